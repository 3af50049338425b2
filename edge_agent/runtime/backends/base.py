"""The small interface every inference runtime implements."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..bundle import Bundle
from ..sampler import Denoise


@dataclass(frozen=True)
class SessionSpec:
    """One compiled network: static batch and tile shape on one device."""

    precision: str  # 'fp32' | 'int8'
    device: str
    batch: int
    height: int
    width: int
    cache_dir: Path | None = None
    threads: int = 0  # 0 = the runtime's default
    hint: str = "latency"  # HINTS: OpenVINO's PERFORMANCE_HINT (ONNX Runtime has none and ignores it)


HINTS = ("latency", "throughput")  # latency: one stream, lowest time per frame; throughput: most frames per second


class InferQueue(Protocol):
    """Several inferences of one compiled network in flight at once (a
    runtime's async queue), for throughput: ``start`` returns as soon as a
    request is free, ``wait`` until every one is done."""

    requests: int  # in flight
    optimal_requests: int  # what the runtime reports as optimal for this device and hint
    latencies_ms: list[float]  # one per finished inference

    def start(self, inputs: dict[str, np.ndarray]) -> None:
        """Submit one inference (waits for a free request)."""

    def wait(self) -> None:
        """Wait until every submitted inference is done."""


class Backend(Protocol):
    """An inference runtime: what it can run on, and a compiled denoiser for one shape."""

    name: str

    def version(self) -> str:
        """The runtime's version string."""

    def devices(self) -> list[str]:
        """Device names this runtime can use on this machine."""

    def default_device(self) -> str:
        """The device used when none is asked for."""
        ...

    def needs_static_tile(self, device: str) -> bool:
        """True where only the bundle's own static tile shape may be compiled (NPU)."""

    def open(self, bundle: Bundle, spec: SessionSpec) -> Denoise:
        """Compile the bundle's network for ``spec``; returns D(x, sigma, cond)."""
