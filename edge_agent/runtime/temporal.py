"""Video stability: a motion-adaptive recursive filter on the enhanced stream.

A fixed noise seed per stream makes the *sampler's* noise identical from
frame to frame, but the camera's own sensor noise is fresh every frame and
the few-step student passes part of it through: a static night scene still
shimmers. This is the 3D noise reduction of camera ISPs, applied after the
model: on pixels whose content has not changed, the output is a running
average of the previous outputs; where anything moves, the new frame is taken
as it is, so moving objects are not smeared.

Motion is measured per block of ``BLOCK`` x ``BLOCK`` pixels as the mean
absolute change against the previous (filtered) output, in multiples of the
stream's noise level: the median block change, which on a fixed camera is
set by the static majority of the frame. The noise level may rise by at most
``LEVEL_GROWTH`` per frame, so a scene change, a pan or a light switching on
reads as motion everywhere (the filter lets the new frame through) rather
than as a noisier scene.

Darker scenes leave more noise in the model's output, and a fixed weight
leaves a fixed fraction of it: the weight of the past rises with the stream's
noise level, ``1 - (1 - strength) * noise_ref / level`` up to
``max_strength``, where ``noise_ref`` is the level the plain ``strength`` was
tuned at. Motion is still judged against the same noise level, so moving
objects are taken as they are. Measured on the static-camera clip at
768x576 (0.3.0, very_dark; noise_ref 2): flicker 0.86 -> 0.38 (clean clip
0.19), PSNR on moving pixels -0.26 dB; street_sodium 0.24 -> 0.17. The price:
at heavy noise a moving object leaves a fainter trail for a frame or two
longer (tests/test_temporal.py bounds it).

The filter's settings are tuned to the model's output noise and travel in
the bundle (``manifest["settings"]["temporal"]``); a bundle without them is
not filtered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

BLOCK = 8  # pixels per side of a motion block: averages the noise away, small enough for a distant person
LEVEL_GROWTH = 1.1  # the most the noise estimate may rise per frame
PIXEL_SLACK = 2.0  # per-pixel thresholds are this many times the block ones
LEVEL_FLOOR = 0.5 / 255.0  # a noise-free stream: changes under half a grey level count as static
CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, np.float32)


@dataclass(frozen=True)
class TemporalSpec:
    """Settings of the filter, read from the bundle."""

    strength: float  # weight of the previous output on a static pixel, in [0, 1); 0 turns the filter off
    motion_low: float  # block change (x noise level) at or below which a block is static
    motion_high: float  # block change (x noise level) at or above which a block is moving
    noise_ref: float | None = None  # noise level (grey levels, 0-255) that ``strength`` is for; None: fixed strength
    max_strength: float = 0.99  # the most the weight of the past may rise to on a noisy stream

    @classmethod
    def from_manifest(cls, entry: dict[str, Any] | None) -> "TemporalSpec | None":
        """The bundle's settings, or None when it has none (the stream is then not filtered)."""
        if entry is None:
            return None
        ref = entry.get("noise_ref")
        spec = cls(float(entry["strength"]), float(entry["motion_low"]), float(entry["motion_high"]),
                   None if ref is None else float(ref), float(entry.get("max_strength", 0.99)))
        values = (spec.strength, spec.motion_low, spec.motion_high, spec.max_strength, spec.noise_ref or 1.0)
        if not (all(math.isfinite(v) for v in values) and 0.0 <= spec.strength <= spec.max_strength < 1.0
                and 0.0 < spec.motion_low < spec.motion_high and (spec.noise_ref is None or spec.noise_ref > 0)):
            raise ValueError("temporal: need finite 0 <= strength <= max_strength < 1, 0 < motion_low < motion_high "
                             "and noise_ref > 0 (or absent)")
        return spec

    def to_manifest(self) -> dict[str, float]:
        entry = {"strength": self.strength, "motion_low": self.motion_low, "motion_high": self.motion_high}
        if self.noise_ref is not None:
            entry.update(noise_ref=self.noise_ref, max_strength=self.max_strength)
        return entry

    def strength_at(self, level: float) -> float:
        """Weight of the past on a static pixel at the stream's noise ``level`` (0-1 units)."""
        if self.noise_ref is None or self.strength == 0.0:
            return self.strength
        return min(self.max_strength, 1.0 - (1.0 - self.strength) * min(1.0, self.noise_ref / 255.0 / level))


class TemporalFilter:
    """One stream's filter. Feed it the stream's frames in order; call
    ``reset`` where the stream is discontinuous (reconnect, new model)."""

    def __init__(self, spec: TemporalSpec) -> None:
        self.spec = spec
        self._previous: np.ndarray | None = None
        self._level: float | None = None

    def reset(self) -> None:
        """Start over: the next frame passes unfiltered and becomes the history."""
        self._previous, self._level = None, None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """HxWx3 float in [0, 1] -> the filtered frame (same shape, float32)."""
        frame = np.asarray(frame, np.float32)
        previous = self._previous
        weight = None
        if previous is not None and previous.shape == frame.shape and self.spec.strength > 0.0:
            weight = self._update_weights(frame, previous)
        if weight is None:  # first frame, new size, filter off, or a non-finite frame: start over from this one
            self._previous, self._level = frame.copy(), None
            return frame
        out = cv2.blendLinear(frame, previous, 1.0 - weight, weight)  # per-pixel weights, one pass (~4x numpy)
        self._previous = out
        return out

    def _update_weights(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
        """Per-pixel weight of the previous output (``strength`` where static, 0
        where moving), updating the noise level; None for a non-finite frame."""
        height, width = frame.shape[:2]
        change = cv2.transform(cv2.absdiff(frame, previous), CHANNEL_MEAN)  # mean |change| over RGB
        blocks = cv2.resize(change, (max(1, width // BLOCK), max(1, height // BLOCK)), interpolation=cv2.INTER_AREA)
        if not np.isfinite(blocks).all():  # a NaN pixel poisons its block: never let it into the history
            return None
        median = max(float(np.median(blocks)), LEVEL_FLOOR)
        self._level = median if self._level is None else min(median, self._level * LEVEL_GROWTH)
        low, high = self.spec.motion_low, self.spec.motion_high
        static = np.clip((high - blocks / self._level) / (high - low), 0.0, 1.0).astype(np.float32)
        static = cv2.resize(static, (width, height), interpolation=cv2.INTER_LINEAR)
        # the block map is smooth; a pixel that itself changed a lot (the trailing edge of a moving
        # object inside a mostly static block) must not keep its past: judge it on its own 3x3 change,
        # with thresholds widened for the noisier 9-pixel average
        pixel = cv2.blur(change, (3, 3)) / self._level
        pixel_static = np.clip((PIXEL_SLACK * high - pixel) * np.float32(1.0 / (PIXEL_SLACK * (high - low))), 0.0, 1.0)
        return np.minimum(static, pixel_static) * np.float32(self.spec.strength_at(self._level))
