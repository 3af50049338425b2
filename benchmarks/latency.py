"""Latency of every backend x device x precision x steps x resolution, the
classical peers in the same run, and efficiency against this machine's
measured arithmetic peak.

    python -m benchmarks.latency                      # full matrix -> benchmarks/results/latency.{json,md}
    python -m benchmarks.latency --quick              # tiny setting (the test suite runs this)

Built on `edge-agent bench` (``edge_agent.measure.measure``), so the
numbers are what a developer gets on the box with that command.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.report import write_report
from edge_agent.runtime.backends import get_backend
from edge_agent.runtime.bundle import load_bundle
from edge_agent.measure import cpu_name, measure, night_frame
from edge_agent.paths import default_cache_dir, default_model_path
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.errors import UserError

RESOLUTIONS = [(480, 640), (720, 1280), (1080, 1920)]


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of a large matrix product: the machine's practical peak."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def peer_latency(height: int, width: int, frames: int) -> dict[str, float]:
    from export.peers import clahe_nlm, gamma_wb_nlm  # numpy + OpenCV only

    frame = night_frame(height, width)
    out = {}
    for name, fn in (("gamma_wb_nlm", gamma_wb_nlm), ("clahe_nlm", clahe_nlm)):
        fn(frame)
        out[name] = float(np.median([_timed(lambda: fn(frame)) for _ in range(frames)]) * 1e3)
    return out


def measure_setting(model: Path, backend_name: str, device: str, precision: str, height: int, width: int,
                    steps: list[int], frames: int, macs_per_pixel: float | None, peak: float) -> list[dict]:
    """One backend/device/precision/resolution at every step count, in this process."""
    bundle = load_bundle(model)
    rows = []
    t0 = time.perf_counter()
    enhancer = None
    for n in steps:
        settings = EnhanceSettings(backend=backend_name, device=device, precision=precision, steps=n,
                                   cache_dir=default_cache_dir())
        try:
            enhancer = Enhancer(bundle, settings)
            result = measure(enhancer, height, width, frames, warmup=1, temporal=True)
        except UserError as exc:
            rows.append({"backend": backend_name, "device": device, "precision": precision, "steps": n,
                         "resolution": f"{width}x{height}", "error": str(exc)})
            continue
        if not rows or "error" in rows[0]:  # the first step count paid for loading and compiling
            load_ms = (time.perf_counter() - t0) * 1e3 - result["mean_ms"] * (frames + 1)
        result["load_and_compile_ms"] = round(load_ms, 1)
        if macs_per_pixel:
            gmac = macs_per_pixel * height * width * n / 1e9
            result["gmac_per_frame"] = round(gmac, 2)
            result["efficiency_vs_fp32_peak"] = round(2 * gmac / (result["model_mean_ms"] / 1e3) / peak, 3)
        rows.append(result)
    peak_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return [{**r, "peak_rss_mb": peak_rss} for r in rows]


def run(model: Path, resolutions: list[tuple[int, int]], frames: int, steps: list[int] | None,
        precisions: list[str]) -> dict:
    """Each backend/device/precision/resolution in a fresh process, so its
    load/compile time and peak memory are its own."""
    bundle = load_bundle(model)
    macs_per_pixel = bundle.manifest.get("provenance", {}).get("macs_per_pixel")
    peak = matmul_peak_gflops()
    rows = []
    for backend_name in ("openvino", "onnxruntime"):
        for device in get_backend(backend_name).devices():
            if device == "AUTO":
                continue
            for precision in precisions:
                for h, w in resolutions:
                    job = {"model": str(model), "backend_name": backend_name, "device": device, "precision": precision,
                           "height": h, "width": w, "steps": steps or bundle.sampler.steps, "frames": frames,
                           "macs_per_pixel": macs_per_pixel, "peak": peak}
                    proc = subprocess.run([sys.executable, "-m", "benchmarks.latency", "--child", json.dumps(job)],
                                          capture_output=True, text=True)
                    if proc.returncode != 0:
                        raise SystemExit(f"error: latency of {backend_name} {device} {precision} {w}x{h} failed: "
                                         f"{proc.stderr.strip().splitlines()[-1:]}")
                    rows += json.loads(proc.stdout.strip().splitlines()[-1])
    peers = {f"{w}x{h}": peer_latency(h, w, max(1, frames // 2)) for h, w in resolutions}
    return {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "system": platform.platform()},
            "matmul_peak_gflops": round(peak, 1), "model": f"{bundle.name} {bundle.version}",
            "macs_per_pixel_per_step": macs_per_pixel, "rows": rows, "peers_ms": peers}


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m['system']}); fp32 matmul peak "
             f"{result['matmul_peak_gflops']} GFLOP/s. Model: {result['model']}. "
             "Command: `python -m benchmarks.latency`", "",
             "Each backend/device/precision/resolution ran in a fresh process: load+compile is its first model load "
             "(OpenVINO's compiled-model cache may already hold it), peak RSS is that whole process's. "
             "p50/p95 are the stream path a camera runs (model + temporal filter); the filter's own mean is a column; "
             "efficiency counts the model's time only.", "",
             "| backend | device | precision | steps | resolution | p50 ms | p95 ms | ms/MP | first frame ms | "
             "load+compile ms | peak RSS MB | filter ms | GMAC/frame | efficiency vs peak |", "| --- " * 14 + "|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['device']} | {r['precision']} | {r['steps']} | {r['resolution']} | "
                         f"error: {r['error']} | | | | | | | | |")
            continue
        lines.append(f"| {r['backend']} | {r['device']} | {r['precision']} | {r['steps']} | {r['resolution']} | "
                     f"{r['p50_ms']} | {r['p95_ms']} | {r['ms_per_megapixel']} | {r['first_frame_ms']} | "
                     f"{r['load_and_compile_ms']} | {r['peak_rss_mb']} | {r['filter_mean_ms']} | "
                     f"{r.get('gmac_per_frame', '')} | {r.get('efficiency_vs_fp32_peak', '')} |")
    lines += ["", "Classical peers, same run (median ms per frame):", "", "| resolution | gamma_wb_nlm | clahe_nlm |",
              "| --- | --- | --- |"]
    for res, p in result["peers_ms"].items():
        lines.append(f"| {res} | {p['gamma_wb_nlm']:.1f} | {p['clahe_nlm']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Latency matrix with classical peers.")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one small resolution, default steps")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/latency"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one setting, JSON rows on stdout
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure_setting(**{k: (Path(v) if k == "model" else v) for k, v in json.loads(args.child).items()})))
        return 0
    model = args.model or default_model_path()
    if args.quick:
        result = run(model, [(96, 160)], 2, [load_bundle(model).sampler.default_steps], ["int8"])
    else:
        result = run(model, RESOLUTIONS, args.frames, None, ["fp32", "int8"])
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
