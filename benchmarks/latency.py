"""Latency of every backend x device x precision x steps x resolution, the
classical peers in the same run, and efficiency against this machine's
measured arithmetic peak.

    python -m benchmarks.latency                      # full matrix -> benchmarks/results/latency.{json,md}
    python -m benchmarks.latency --quick              # tiny setting (the test suite runs this)

Built on `edge-agent bench` (``edge_agent.commands.bench.measure``), so the
numbers are what a developer gets on the box with that command.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from edge_agent.backends import get_backend
from edge_agent.bundle import load_bundle
from edge_agent.commands.bench import cpu_name, measure, night_frame
from edge_agent.commands.options import default_cache_dir, default_model_path
from edge_agent.enhancer import EnhanceSettings, Enhancer
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


def run(model: Path, resolutions: list[tuple[int, int]], frames: int, steps: list[int] | None,
        precisions: list[str]) -> dict:
    bundle = load_bundle(model)
    macs_per_pixel = bundle.manifest.get("provenance", {}).get("macs_per_pixel")
    peak = matmul_peak_gflops()
    rows = []
    for backend_name in ("openvino", "onnxruntime"):
        backend = get_backend(backend_name)
        for device in backend.devices():
            if device == "AUTO":
                continue
            for precision in precisions:
                for n in steps or bundle.sampler.steps:
                    for h, w in resolutions:
                        settings = EnhanceSettings(backend=backend_name, device=device, precision=precision, steps=n,
                                                   cache_dir=default_cache_dir())
                        t0 = time.perf_counter()
                        try:
                            enhancer = Enhancer(bundle, settings)
                            result = measure(enhancer, h, w, frames, warmup=1)
                        except UserError as exc:
                            rows.append({"backend": backend_name, "device": device, "precision": precision,
                                         "steps": n, "resolution": f"{w}x{h}", "error": str(exc)})
                            continue
                        result["load_and_compile_ms"] = round((time.perf_counter() - t0) * 1e3
                                                              - result["mean_ms"] * (frames + 1), 1)
                        if macs_per_pixel:
                            gmac = macs_per_pixel * h * w * n / 1e9
                            result["gmac_per_frame"] = round(gmac, 2)
                            result["efficiency_vs_fp32_peak"] = round(2 * gmac / (result["mean_ms"] / 1e3) / peak, 3)
                        rows.append(result)
    peers = {f"{w}x{h}": peer_latency(h, w, max(1, frames // 2)) for h, w in resolutions}
    return {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "system": platform.platform()},
            "matmul_peak_gflops": round(peak, 1), "model": f"{bundle.name} {bundle.version}",
            "macs_per_pixel_per_step": macs_per_pixel, "rows": rows, "peers_ms": peers,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m['system']}); fp32 matmul peak "
             f"{result['matmul_peak_gflops']} GFLOP/s. Model: {result['model']}. "
             "Command: `python -m benchmarks.latency`", "",
             "| backend | device | precision | steps | resolution | p50 ms | p95 ms | ms/MP | first frame ms | "
             "GMAC/frame | efficiency vs peak |", "| --- " * 11 + "|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['device']} | {r['precision']} | {r['steps']} | {r['resolution']} | "
                         f"error: {r['error']} | | | | | |")
            continue
        lines.append(f"| {r['backend']} | {r['device']} | {r['precision']} | {r['steps']} | {r['resolution']} | "
                     f"{r['p50_ms']} | {r['p95_ms']} | {r['ms_per_megapixel']} | {r['first_frame_ms']} | "
                     f"{r.get('gmac_per_frame', '')} | {r.get('efficiency_vs_fp32_peak', '')} |")
    lines += ["", "Classical peers, same run (median ms per frame):", "", "| resolution | gamma_wb_nlm | clahe_nlm |",
              "| --- | --- | --- |"]
    for res, p in result["peers_ms"].items():
        lines.append(f"| {res} | {p['gamma_wb_nlm']:.1f} | {p['clahe_nlm']:.1f} |")
    lines.append(f"\nPeak resident memory of the benchmark process: {result['peak_rss_mb']} MB.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Latency matrix with classical peers.")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one small resolution, default steps")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/latency"))
    args = ap.parse_args(argv)
    model = args.model or default_model_path()
    if args.quick:
        result = run(model, [(96, 160)], 2, [load_bundle(model).sampler.default_steps], ["int8"])
    else:
        result = run(model, RESOLUTIONS, args.frames, None, ["fp32", "int8"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = markdown(result)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
