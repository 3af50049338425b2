"""Latency of the stream path a camera runs, and the facts that go with a
timing (which CPU, how many cores).

One implementation for `edge-agent bench`, the benchmark scripts and the
evaluation, so every latency figure in the README is measured the same way.
``benchmark`` times whole frames of one or several streams (LATENCY hint);
``queue_benchmark`` times OpenVINO's THROUGHPUT hint with several infer
requests in flight and converts inferences to frames.
"""
from __future__ import annotations

import os
import platform
import threading
import time
from typing import Any

import numpy as np

from .runtime.backends import SessionSpec
from .runtime.enhancer import Enhancer, StreamEnhancer, to_uint8
from .runtime.tiling import TileGrid


def cpu_name() -> str:
    """The CPU's marketing name, so a timing says what it was measured on."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def night_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A dark, noisy frame with structure (latency does not depend on content,
    but a realistic frame keeps INT8 kernels on their usual path)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 18 + 10 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    frame = base[..., None] * np.array([1.0, 0.7, 0.4]) + rng.normal(0, 4, (height, width, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def measure(enhancer: Enhancer, height: int, width: int, frames: int, warmup: int, *,
            temporal: bool) -> dict[str, Any]:
    """Per-frame latency of what a camera stream runs: the model and, if
    ``temporal`` and the bundle has one, the temporal filter (timed apart too,
    so the model's own time stays comparable across bundles)."""
    frame = night_frame(height, width)
    stream = StreamEnhancer(enhancer, temporal)
    t0 = time.perf_counter()
    stream(frame)  # compiles (or loads from the cache) and runs once
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(max(0, warmup - 1)):
        stream(frame)
    model_ms, filter_ms = [], []
    for _ in range(max(1, frames)):
        t = time.perf_counter()
        raw = enhancer.enhance_float(frame, enhancer.seed)
        t_model = time.perf_counter()
        to_uint8(stream.filter(raw) if stream.filter is not None else raw)
        model_ms.append((t_model - t) * 1e3)
        filter_ms.append((time.perf_counter() - t_model) * 1e3)
    ms = np.array(model_ms) + np.array(filter_ms)
    mean = float(ms.mean())
    return {"resolution": f"{width}x{height}", **stream.describe(), "frames": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_ms": round(mean, 2), "fps": round(1e3 / mean, 3),
            "model_mean_ms": round(float(np.mean(model_ms)), 2), "filter_mean_ms": round(float(np.mean(filter_ms)), 2),
            "ms_per_megapixel": round(mean / (height * width / 1e6), 2), "first_frame_ms": round(first_ms, 1),
            "cpu": cpu_name(), "cores": os.cpu_count()}


def latency_stats(ms: list[float]) -> dict[str, float | None]:
    """min/median/mean/p95/max of per-frame latencies (ms); p95 needs 20 frames to mean anything."""
    a = np.asarray(ms, dtype=np.float64)
    return {"min_ms": round(float(a.min()), 2), "median_ms": round(float(np.median(a)), 2),
            "mean_ms": round(float(a.mean()), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2) if len(a) >= P95_MIN_FRAMES else None,
            "max_ms": round(float(a.max()), 2)}


P95_MIN_FRAMES = 20


def _stream_loop(stream: StreamEnhancer, frame: np.ndarray, frames: int | None, seconds: float | None,
                 out: list[float]) -> None:
    """Enhance ``frame`` until ``frames`` are done or ``seconds`` have passed (at least once)."""
    deadline = time.perf_counter() + seconds if seconds else None
    while True:
        t = time.perf_counter()
        stream(frame)
        out.append((time.perf_counter() - t) * 1e3)
        if (frames is not None and len(out) >= frames) or (deadline is not None and time.perf_counter() >= deadline):
            return


def benchmark(enhancers: list[Enhancer], height: int, width: int, *, frames: int | None, seconds: float | None,
              warmup: int, temporal: bool) -> dict[str, Any]:
    """`edge-agent bench`, in benchmark_app's terms: compile time, first
    inference, then the steady state (count, min/median/mean/p95/max,
    throughput) of one stream per enhancer. One enhancer is latency mode (one
    camera, every core on it); several run side by side in threads, as
    several cameras on one box would (throughput mode)."""
    frame = night_frame(height, width)
    t0 = time.perf_counter()
    for enhancer in enhancers:
        grid = enhancer.grid(height, width)
        enhancer.session(grid.tile_h, grid.tile_w)  # compile (or load from the cache) without inferring
    compile_ms = (time.perf_counter() - t0) * 1e3
    streams = [StreamEnhancer(e, temporal) for e in enhancers]
    t0 = time.perf_counter()
    streams[0](frame)
    first_ms = (time.perf_counter() - t0) * 1e3
    for stream in streams:
        for _ in range(max(0, warmup - (stream is streams[0]))):
            stream(frame)
    per_stream: list[list[float]] = [[] for _ in streams]
    quota = None if frames is None else max(1, -(-frames // len(streams)))
    threads = [threading.Thread(target=_stream_loop, args=(s, frame, quota, seconds, out))
               for s, out in zip(streams, per_stream)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = [v for out in per_stream for v in out]
    return {"resolution": f"{width}x{height}", **streams[0].describe(), "mode": "latency" if len(streams) == 1
            else "throughput", "streams": len(streams), "threads_per_stream": enhancers[0].settings.threads or None,
            "compile_ms": round(compile_ms, 1), "first_inference_ms": round(first_ms, 1), "warmup": warmup,
            "count": len(ms), "duration_s": round(wall, 3), **latency_stats(ms),
            "throughput_fps": round(len(ms) / wall, 3), "ms_per_megapixel": round(float(np.median(ms)) / (height * width / 1e6), 2),
            "cpu": cpu_name(), "cores": os.cpu_count()}


def network_calls_per_frame(enhancer: Enhancer, grid: TileGrid) -> int:
    """How many inferences one frame takes: the sampler's network evaluations
    (counted on a stand-in network) times the samples averaged, times the batches of tiles."""
    calls = 0

    def count(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return x

    z = np.zeros((1, 3, 1, 1), np.float32)
    enhancer.sample(count, z, enhancer.sigmas, z)
    return calls * enhancer.average * -(-len(grid.origins) // enhancer.settings.batch)


def tile_inputs(enhancer: Enhancer, grid: TileGrid) -> dict[str, np.ndarray]:
    """One inference's inputs at the frame's tile shape: a noisy first step on a night tile."""
    batch, sigma = enhancer.settings.batch, float(enhancer.sigmas[0])
    cond = (night_frame(grid.tile_h, grid.tile_w).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    cond = np.ascontiguousarray(np.repeat(cond, batch, axis=0))
    x = np.random.default_rng(0).standard_normal(cond.shape).astype(np.float32) * np.float32(sigma)
    return {"x": x, "sigma": np.full(batch, sigma, np.float32), "cond": cond}


def queue_benchmark(enhancer: Enhancer, height: int, width: int, *, frames: int | None, seconds: float | None,
                    warmup: int, requests: int | None = None) -> dict[str, Any]:
    """benchmark_app's THROUGHPUT hint: the network compiled once with it and
    ``requests`` inferences in flight (default: the device's
    OPTIMAL_NUMBER_OF_INFER_REQUESTS); latencies are per inference, and
    frames/s is inferences/s over the inferences one frame takes (its tiles
    times the sampler's evaluations; the temporal filter is not timed)."""
    settings, grid = enhancer.settings, enhancer.grid(height, width)
    spec = SessionSpec(settings.precision, enhancer.device, settings.batch, grid.tile_h, grid.tile_w,
                       settings.cache_dir, settings.threads, hint="throughput")
    t0 = time.perf_counter()
    queue = enhancer.backend.open_queue(enhancer.bundle, spec, requests)  # type: ignore[attr-defined]
    compile_ms = (time.perf_counter() - t0) * 1e3
    inputs, per_frame = tile_inputs(enhancer, grid), network_calls_per_frame(enhancer, grid)
    t0 = time.perf_counter()
    queue.start(inputs)
    queue.wait()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup * queue.requests):
        queue.start(inputs)
    queue.wait()
    queue.latencies_ms.clear()
    target = None if frames is None else frames * per_frame
    count, t0 = 0, time.perf_counter()
    deadline = t0 + seconds if seconds else None
    while not ((target is not None and count >= target) or (deadline is not None and time.perf_counter() >= deadline)):
        queue.start(inputs)
        count += 1
    queue.wait()
    wall = time.perf_counter() - t0
    fps = count / per_frame / wall
    return {"resolution": f"{width}x{height}", **enhancer.describe(), "temporal": None, "mode": "throughput",
            "hint": "throughput", "performance_hint": "THROUGHPUT", "infer_requests": queue.requests,
            "optimal_infer_requests": queue.optimal_requests, "streams": queue.requests, "threads_per_stream": None,
            "compile_ms": round(compile_ms, 1), "first_inference_ms": round(first_ms, 1), "warmup": warmup,
            "count": count, "latency_unit": "inference", "inferences_per_frame": per_frame,
            "frames": round(count / per_frame, 2), "duration_s": round(wall, 3), **latency_stats(queue.latencies_ms),
            "inferences_per_s": round(count / wall, 3), "throughput_fps": round(fps, 3),
            "ms_per_megapixel": round(1e3 / fps / (height * width / 1e6), 2), "cpu": cpu_name(), "cores": os.cpu_count()}
