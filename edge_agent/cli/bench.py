"""`edge-agent bench`: latency on this hardware, after a warm-up."""
from __future__ import annotations

import argparse
import json

from ..measure import measure
from ..runtime.enhancer import Enhancer
from .options import add_runtime_options, open_model, parse_size


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench` to the command tree."""
    p = sub.add_parser("bench", help="measure latency per frame on this hardware")
    p.add_argument("--resolution", type=parse_size, default=(720, 1280), metavar="WxH", help="frame size (1280x720)")
    p.add_argument("--frames", type=int, default=10, help="timed frames (10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed frames first (2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-temporal", action="store_true",
                   help="time the model alone, without the video stream's temporal filter")
    add_runtime_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Time the stream path and print it (one JSON object with --json)."""
    bundle, settings = open_model(args)
    h, w = args.resolution
    result = measure(Enhancer(bundle, settings), h, w, args.frames, args.warmup, temporal=not args.no_temporal)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['model']} {result['model_version']} | {result['backend']} {result['device']} "
              f"{result['precision']} {result['steps']} steps | temporal filter "
              f"{'on' if result['temporal'] else 'off'} | {result['resolution']}")
        print(f"p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  mean {result['mean_ms']} ms  "
              f"{result['fps']} frames/s  {result['ms_per_megapixel']} ms/MP  (first frame {result['first_frame_ms']} ms)")
        print(f"of which the model {result['model_mean_ms']} ms, the temporal filter {result['filter_mean_ms']} ms (means)")
        print(f"on {result['cpu']}, {result['cores']} cores")
    return 0
