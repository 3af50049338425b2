"""Latency of the stream path a camera runs, and the facts that go with a
timing (which CPU, how many cores).

One implementation for `edge-agent bench`, the benchmark scripts and the
evaluation, so every latency figure in the README is measured the same way.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

from .runtime.enhancer import Enhancer, StreamEnhancer, to_uint8


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
