"""Latency of several bundles and the classical peers in one run, at one resolution: what a
ship decision compares (a candidate against the default on the same machine, minutes apart).

    python -m benchmarks.bundle_latency --bundle edge_agent/models/default --bundle /path/to/candidate \\
        --resolution 1280x720 --frames 20 --rounds 2

Each bundle runs its default settings (OpenVINO INT8, its steps, averaged and mirrored samples, its
temporal filter) through ``edge_agent.measure.measure``, the code behind ``edge-agent bench``.
Bundles are measured in ``--rounds`` alternating rounds, so a machine that slows down during the
run slows every bundle alike; the row is the median over rounds of each round's p50.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.latency import peer_latency
from benchmarks.report import write_report
from edge_agent.measure import measure
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer


def markdown(result: dict) -> str:
    peers = result["peers_ms"]
    fastest_peer = min(peers.values())
    lines = [f"Resolution {result['resolution']}, {result['cpu']}, {result['cores']} cores; command: "
             f"`{result['command']}`", "",
             "| bundle | settings | p50 ms (model + filter) | model ms | filter ms | vs fastest peer |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in result["bundles"]:
        settings = (f"{row['precision']}, {row['steps']} step(s), mean of {row['average']}"
                    f"{' (mirrored)' if row['mirror'] else ''}, temporal {'on' if row['temporal'] else 'off'}")
        lines.append(f"| {row['model']} {row['model_version']} | {settings} | {row['p50_ms']:.0f} | "
                     f"{row['model_mean_ms']:.0f} | {row['filter_mean_ms']:.0f} | "
                     f"{fastest_peer / row['p50_ms']:.2f}x faster |")
    for name, ms in peers.items():
        lines.append(f"| peer {name} | | {ms:.0f} | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Latency of bundles and peers in one run.")
    ap.add_argument("--bundle", type=Path, action="append", required=True)
    ap.add_argument("--resolution", default="1280x720", help="WxH (default 1280x720)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bundle_latency"))
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        print(f"error: resolution {args.resolution!r} is not WxH (e.g. 1280x720)", file=sys.stderr)
        return 2
    enhancers = [Enhancer(load_bundle(b), EnhanceSettings(backend="openvino", precision="int8"))
                 for b in args.bundle]
    rounds: list[list[dict]] = [[] for _ in enhancers]
    for _ in range(args.rounds):
        for i, enhancer in enumerate(enhancers):
            rounds[i].append(measure(enhancer, height, width, args.frames, warmup=2, temporal=True))
    rows = []
    for runs in rounds:
        row = dict(runs[0])
        for key in ("p50_ms", "model_mean_ms", "filter_mean_ms"):
            row[key] = float(np.median([r[key] for r in runs]))
        row["rounds_p50_ms"] = [r["p50_ms"] for r in runs]
        rows.append(row)
    result = {"resolution": f"{width}x{height}", "cpu": rows[0]["cpu"], "cores": rows[0]["cores"],
              "command": "python -m benchmarks.bundle_latency " + " ".join(argv if argv is not None else sys.argv[1:]),
              "bundles": rows, "peers_ms": peer_latency(height, width, max(3, args.frames // 4))}
    write_report(args.out, json.loads(json.dumps(result, default=str)), markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
