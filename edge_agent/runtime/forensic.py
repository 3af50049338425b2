"""Forensic mode: where may detail be invented, and what exactly produced it.

The uncertainty map is the per-pixel spread (standard deviation over colour
channels and seeds) of the enhanced frame across several noise seeds. Where
the sampler's noise changes the result, the network is filling in detail the
night frame does not determine; where the map is dark, every seed agrees.
The number of seeds and the map's scale come from the bundle's manifest
(``settings.uncertainty``), so two boxes with one model make the same map.

Every output is accompanied by a record: model name/version and the sha256
of its manifest, the exact settings, and the sha256 of input, output and map
files (chain of custody).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..fsutil import atomic_write_bytes, sha256_file
from .bundle import MANIFEST
from .enhancer import Enhancer, running_mean, to_uint8
from .monochrome import keep_monochrome

DEFAULT_SAMPLES = 4
DEFAULT_SCALE = 8.0  # std of 1/8 of full range -> white


def uncertainty_settings(enhancer: Enhancer) -> tuple[int, float]:
    """(seeds, scale) of the uncertainty map, from the bundle so every box makes the same map."""
    spec = enhancer.bundle.manifest.get("settings", {}).get("uncertainty", {})
    return int(spec.get("samples", DEFAULT_SAMPLES)), float(spec.get("scale", DEFAULT_SCALE))


def enhance_with_uncertainty(enhancer: Enhancer, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(enhanced uint8 RGB, uncertainty map uint8 RGB heat map). The enhanced
    frame is the mean of the first ``average`` samples, identical to a
    plain ``enhance``; the map is the spread of the first ``samples`` single
    samples (the enhancer's views: seeds ``seed ..``, every second one
    mirrored when the bundle says so), each run once for both."""
    samples, scale = uncertainty_settings(enhancer)
    runs = list(enhancer.samples(rgb, enhancer.views(enhancer.seed, max(samples, enhancer.average))))
    enhanced = enhancer.finish(rgb, running_mean(runs[:enhancer.average]))
    spread = np.stack([keep_monochrome(rgb, r) for r in runs[:samples]]).std(axis=0).mean(axis=-1)
    grey = np.clip(spread * scale * 255.0, 0, 255).astype(np.uint8)
    heat = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)[..., ::-1]
    return to_uint8(enhanced), np.ascontiguousarray(heat)


@dataclass
class CustodyRecord:
    """The JSON written beside forensic outputs."""

    enhancer: Enhancer
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: Path, output: Path, uncertainty: Path, **extra: Any) -> None:
        """Record one output with the sha256 of its input, output and map."""
        self.items.append({"input": str(source), "input_sha256": sha256_file(source), "output": str(output),
                           "output_sha256": sha256_file(output), "uncertainty": str(uncertainty),
                           "uncertainty_sha256": sha256_file(uncertainty), **extra})

    def write(self, path: Path) -> None:
        """Write the record atomically beside the outputs."""
        samples, scale = uncertainty_settings(self.enhancer)
        views = self.enhancer.views(self.enhancer.seed, samples)
        bundle = self.enhancer.bundle
        record = {"model": {"name": bundle.name, "version": bundle.version, "version_code": bundle.version_code,
                            "manifest_sha256": sha256_file(bundle.root / MANIFEST)},
                  "settings": {**self.enhancer.describe(), "uncertainty_seeds": [seed for seed, _ in views],
                               "uncertainty_mirrored": [mirrored for _, mirrored in views],
                               "uncertainty_scale": scale},
                  "items": self.items}
        atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
