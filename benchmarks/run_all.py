"""Regenerate every result file and figure under benchmarks/results/ in one command.

    python -m benchmarks.run_all              # needs the export and bench extras, the dataset and mosquitto
    python -m benchmarks.run_all --quick --data DIR --model BUNDLE --out DIR
                                              # a tiny setting of each (what the tests run)

Each script writes its own JSON/Markdown and prints it; plots.py then draws
the README's figures from those files. The README quotes them and names the
machine they came from.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import agent_latency, image_grid, latency, plots, projection, temporal, update_time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=Path("data"), help="dataset built by python -m export.sources")
    ap.add_argument("--teacher", type=Path, nargs="+",
                    default=[Path("checkpoints/teacher/last.pt"), Path("checkpoints/teacher_refine/last.pt")],
                    help="teacher checkpoints for the quality table; the last one is shown in the grid")
    ap.add_argument("--student", type=Path, default=Path("checkpoints/student/last.pt"))
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (required with --quick)")
    ap.add_argument("--no-agent", action="store_true", help="skip the agent benchmark (it needs mosquitto)")
    args = ap.parse_args(argv)
    if args.quick and args.out is None:
        raise SystemExit("error: --quick needs --out DIR (tiny-setting numbers must not replace benchmarks/results)")
    args.out = args.out or Path("benchmarks/results")
    from export.evaluate import main as evaluate  # torch: the export extra

    quick = ["--quick"] if args.quick else []
    model = ["--model", str(args.model)] if args.model else []
    bundle = str(args.model or "edge_agent/models/default")
    latency.main([*model, "--out", str(args.out / "latency"), *quick])
    if not args.no_agent:
        agent_latency.main([*model, "--out", str(args.out / "agent_latency.json"),
                            *(["--seconds", "3", "--resolution", "160x96"] if args.quick else [])])
    if args.quick:
        evaluate(["--data", str(args.data), "--bundle", bundle, "--limit", "1", "--max-side", "64", "--no-flicker",
                  "--out", str(args.out / "quality")])
    else:
        update_time.main([*model, "--out", str(args.out / "update_time.json")])
        evaluate(["--data", str(args.data), "--teacher", *map(str, args.teacher), "--student", str(args.student),
                  "--bundle", bundle, "--limit", "14", "--out", str(args.out / "quality")])
        from .native_quality import main as native_quality  # needs tesseract-ocr (see README.md here)

        native_quality(["--model", bundle, "--data", str(args.data), "--out", str(args.out / "native_quality")])
        from .exposure_sweep import main as exposure_sweep  # tesseract-ocr too

        exposure_sweep(["--bundle", bundle, "--out", str(args.out / "exposure_sweep")])
    temporal.main([*model, "--data", str(args.data), "--out", str(args.out / "temporal"), *quick])
    projection.main([*model, "--latency", str(args.out / "latency.json"), "--out", str(args.out / "projection"),
                     *(["--resolution", "160x96"] if args.quick else [])])
    image_grid.main([*model, "--data", str(args.data), "--out", str(args.out / "plots" / "grid.jpg"),
                     *(["--max-side", "64"] if args.quick else ["--teacher", str(args.teacher[-1])])])
    plots.main(["--results", str(args.out)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
