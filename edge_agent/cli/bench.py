"""`edge-agent bench`: latency and throughput on this hardware, reported in
the terms of OpenVINO's ``benchmark_app``: compile time, first inference,
then the steady state (count, duration, min/median/mean/p95/max latency,
throughput), by frame count (``-n``) or by time (``-t``), with OpenVINO's
performance hint (``--hint``: LATENCY, or THROUGHPUT with several infer
requests in flight)."""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

from ..measure import P95_MIN_FRAMES, benchmark, queue_benchmark
from ..runtime.enhancer import Enhancer
from .options import add_runtime_options, non_negative_int, open_model, parse_size, positive_int


def positive_seconds(text: str) -> float:
    """A duration > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed; allowed: more than 0 seconds")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench` to the command tree."""
    p = sub.add_parser("bench", help="measure latency and throughput on this hardware",
                       description="Time the stream path a camera runs (model + temporal filter) after a warm-up, "
                                   "like OpenVINO's benchmark_app: -n frames or -t seconds.")
    p.add_argument("--resolution", type=parse_size, default=(720, 1280), metavar="WxH", help="frame size (1280x720)")
    p.add_argument("-n", "--frames", type=positive_int, default=None, metavar="N",
                   help="timed frames (default 10, or as many as fit in -t)")
    p.add_argument("-t", "--time", type=positive_seconds, default=None, metavar="SECONDS",
                   help="time the steady state for this long (with -n: whichever ends first)")
    p.add_argument("--warmup", type=non_negative_int, default=2, help="untimed frames first (2)")
    p.add_argument("--mode", choices=("latency", "throughput"), default="latency",
                   help="latency: one stream on every core (the agent's setting, OpenVINO's LATENCY hint); "
                        "throughput: --streams streams side by side, the cores shared out (several cameras)")
    p.add_argument("--streams", type=positive_int, default=None,
                   help="streams in throughput mode (default: one per 2 cores, at least 2)")
    p.add_argument("--hint", choices=("latency", "throughput"), default="latency",
                   help="OpenVINO's PERFORMANCE_HINT. latency: LATENCY, whole frames as the agent runs them; "
                        "throughput: THROUGHPUT, one compiled model with several infer requests in flight "
                        "(AsyncInferQueue; --requests, default OPTIMAL_NUMBER_OF_INFER_REQUESTS), reported as "
                        "inferences/s and frames/s, latency per inference. ONNX Runtime has no performance hint "
                        "and ignores it")
    p.add_argument("--requests", "-nireq", type=positive_int, default=None, metavar="N",
                   help="infer requests in flight with --hint throughput (default: OpenVINO's optimal number)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-temporal", action="store_true",
                   help="time the model alone, without the video stream's temporal filter")
    add_runtime_options(p)
    p.set_defaults(run=run)


def enhancers(args: argparse.Namespace) -> list[Enhancer]:
    """One enhancer in latency mode; in throughput mode one per stream, each with its share of the cores."""
    bundle, settings = open_model(args)
    if args.mode == "latency":
        return [Enhancer(bundle, settings)]
    cores = os.cpu_count() or 1
    streams = args.streams or max(2, cores // 2)
    threads = settings.threads or max(1, cores // streams)
    return [Enhancer(bundle, replace(settings, threads=threads)) for _ in range(streams)]


def run(args: argparse.Namespace) -> int:
    """Time the stream path and print it (one JSON object with --json)."""
    h, w = args.resolution
    frames = args.frames if args.frames is not None or args.time is not None else 10
    first = enhancers(argparse.Namespace(**{**vars(args), "mode": "latency"}))[0] if args.hint == "throughput" else None
    if first is not None and hasattr(first.backend, "open_queue"):
        r = queue_benchmark(first, h, w, frames=frames, seconds=args.time, warmup=args.warmup, requests=args.requests)
    else:  # the LATENCY hint, or a runtime without hints (ONNX Runtime: --hint is ignored)
        r = benchmark(enhancers(args), h, w, frames=frames, seconds=args.time, warmup=args.warmup,
                      temporal=not args.no_temporal)
        r.update(hint=args.hint, performance_hint="LATENCY" if r["backend"] == "openvino" else None)
    r.update(p50_ms=r["median_ms"], fps=r["throughput_fps"])  # the older names, kept
    r.setdefault("frames", r["count"])
    r.setdefault("latency_unit", "frame")
    if args.json:
        print(json.dumps(r))
    else:
        print_report(r)
    return 0


def print_report(r: dict) -> None:
    """The report in benchmark_app's words."""
    per_inference = r.get("latency_unit") == "inference"
    p95 = (f"{r['p95_ms']} ms" if r["p95_ms"] is not None
           else f"n/a (under {P95_MIN_FRAMES} {'inferences' if per_inference else 'frames'})")
    print(f"[ model  ] {r['model']} {r['model_version']} | {r['backend']} {r['device']} {r['precision']}, "
          f"{r['steps']} steps | temporal filter {'on' if r['temporal'] else 'off'} | {r['resolution']}")
    print(f"[ device ] {r['cpu']}, {r['cores']} cores")
    if per_inference:
        print(f"[ mode   ] throughput: PERFORMANCE_HINT THROUGHPUT, {r['infer_requests']} infer requests in flight "
              f"(OPTIMAL_NUMBER_OF_INFER_REQUESTS {r['optimal_infer_requests']}); "
              f"{r['inferences_per_frame']} inferences per frame")
    else:
        print(f"[ mode   ] {r['mode']}: {r['streams']} stream(s)"
              + (f", {r['threads_per_stream']} threads each" if r["threads_per_stream"] else ", all cores")
              + (f", PERFORMANCE_HINT {r['performance_hint']} per compiled model" if r["performance_hint"]
                 else f" (--hint {r['hint']} ignored: {r['backend']} has no performance hint)"
                 if r["hint"] != "latency" else ""))
    print(f"Compile the model:  {r['compile_ms']:.1f} ms")
    print(f"First inference:    {r['first_inference_ms']:.1f} ms"
          + ("" if per_inference else f" (the first of {max(1, r['warmup'])} untimed frames)"))
    print(f"Count:              {r['count']} " + (f"iterations ({r['frames']} frames)" if per_inference else "frames"))
    print(f"Duration:           {r['duration_s'] * 1e3:.1f} ms")
    print(f"Latency{' per inference' if per_inference else ''}:  Median {r['median_ms']} ms  Average {r['mean_ms']} ms  "
          f"Min {r['min_ms']} ms  Max {r['max_ms']} ms  p95 {p95}")
    if per_inference:
        print(f"Throughput:         {r['inferences_per_s']:.2f} inferences/s, {r['throughput_fps']:.2f} FPS")
    else:
        print(f"Throughput:         {r['throughput_fps']:.2f} FPS ({r['ms_per_megapixel']} ms per megapixel, median)")
