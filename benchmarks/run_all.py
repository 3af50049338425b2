"""Regenerate every result file under benchmarks/results/ in one command.

    python -m benchmarks.run_all              # needs the export extra (torch) and mosquitto
    python -m benchmarks.run_all --quick      # a tiny setting of each (what the tests run)

Each script writes its own JSON/Markdown and prints it; the README quotes
those files and names the machine they came from.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import agent_latency, latency, update_time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    model = ["--model", str(args.model)] if args.model else []
    latency.main([*model, "--out", str(args.out / "latency"), *(["--quick"] if args.quick else [])])
    agent_latency.main([*model, "--out", str(args.out / "agent_latency.json"),
                        *(["--seconds", "3", "--resolution", "160x96"] if args.quick else [])])
    if not args.quick:
        from export.evaluate import main as evaluate

        update_time.main([*model, "--out", str(args.out / "update_time.json")])
        evaluate(["--teacher", "checkpoints/teacher/last.pt", "--student", "checkpoints/student/last.pt",
                  "--bundle", str(args.model or "edge_agent/models/default"), "--limit", "14",
                  "--out", str(args.out / "quality")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
