"""Frame in, frame out: the bundle's sampler over a (tiled) backend session."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import UserError, choice_error
from .backends import SessionSpec, get_backend
from .bundle import MAX_AVERAGE, Bundle
from .monochrome import keep_monochrome
from .sampler import SAMPLERS, Denoise, seeded_noise
from .temporal import TemporalFilter
from .tiling import TileGrid, padded_size, tiled_denoiser
from .tone_anchor import anchor_to_night

# Frames up to this many pixels run as one static shape (no tiling overhead)
# on devices that accept any shape; larger ones are tiled.
WHOLE_FRAME_MAX_PIXELS = 1920 * 1088
MAX_FRAME_PIXELS = 8192 * 8192  # beyond this, a frame is refused, not swapped to death


@dataclass(frozen=True)
class EnhanceSettings:
    """How to run a bundle: runtime, device, precision, steps, seed, tiling, threads, cache."""

    backend: str = "auto"
    device: str | None = None  # None = the backend's default
    precision: str = "int8"
    steps: int | None = None  # None = the bundle's default
    seed: int | None = None  # None = the bundle's default seed
    average: int | None = None  # samples averaged per frame; None = the bundle's
    tile: tuple[int, int] | None = None  # None = whole frame when small enough, else the bundle's tile
    batch: int = 1
    cache_dir: Path | None = None
    threads: int = 0


class Enhancer:
    """Enhances uint8 RGB frames of any size with one bundle and one backend.

    The noise is a pure function of (seed, padded frame size), so a stream of
    one size gets the same noise every frame: a static scene stays static.
    An output frame is the mean of ``average`` samples with seeds ``seed``,
    ``seed + 1``, ...: what one seed's noise adds that the night frame does not
    determine differs from seed to seed and averages out (measured on real
    CCTV: two 1-step samples +0.6 dB over one, and over 2 steps at the same
    cost; export/README.md). When the bundle says ``mirror``, every second
    sample runs on the left-right mirrored frame and is mirrored back: the
    network is not mirror-symmetric, so where the night frame cannot resolve
    a glyph the two views complete it differently and the mean stays
    ambiguous instead of reading as a wrong letter (fewer wrong plate reads
    for the same two calls, export/README.md). When the bundle gives a
    ``tone_anchor`` scale, the mean's content coarser than it becomes one colour
    transform of the night frame's (tone_anchor.py). Compiled sessions are kept
    per tile shape.
    """

    def __init__(self, bundle: Bundle, settings: EnhanceSettings) -> None:
        self.bundle = bundle
        self.backend = get_backend(settings.backend)
        self.device = (settings.device or self.backend.default_device()).upper()
        if settings.precision not in bundle.precisions:
            raise choice_error("precision", settings.precision, bundle.precisions)
        self.steps = settings.steps if settings.steps is not None else bundle.sampler.default_steps
        if self.steps not in bundle.sampler.sigmas:
            raise choice_error("steps", self.steps, [str(s) for s in bundle.sampler.steps])
        overlap = bundle.io.tile_overlap
        if settings.tile is not None and min(settings.tile) <= 2 * overlap:
            raise UserError(f"tile {settings.tile[1]}x{settings.tile[0]} is too small for this model's tile overlap "
                            f"of {overlap} px; allowed: sides above {2 * overlap}")
        if settings.batch < 1:
            raise UserError(f"batch {settings.batch} is not allowed; allowed: 1 or more")
        self.settings = settings
        self.seed = settings.seed if settings.seed is not None else bundle.sampler.default_seed
        self.set_average(settings.average if settings.average is not None else bundle.sampler.average)
        self.mirror = bundle.sampler.mirror
        self.tone_anchor = bundle.sampler.tone_anchor
        self.sigmas = bundle.sampler.sigmas[self.steps]
        self.sample = SAMPLERS[bundle.sampler.name]
        self._sessions: dict[tuple[int, int], Denoise] = {}
        self._grids: dict[tuple[int, int, int, int], TileGrid] = {}

    def set_steps(self, steps: int) -> None:
        """Change the step count; compiled sessions are kept (they do not depend on it)."""
        if steps not in self.bundle.sampler.sigmas:
            raise choice_error("steps", steps, [str(s) for s in self.bundle.sampler.steps])
        self.steps, self.sigmas = steps, self.bundle.sampler.sigmas[steps]

    def set_average(self, average: int) -> None:
        """Change how many samples each output frame is the mean of (each costs a full sampler run)."""
        if not 1 <= average <= MAX_AVERAGE:
            raise UserError(f"average {average} is not allowed; allowed: 1 to {MAX_AVERAGE} samples per frame")
        self.average = average

    def describe(self) -> dict[str, object]:
        return {"model": self.bundle.name, "model_version": self.bundle.version, "backend": self.backend.name,
                "device": self.device, "precision": self.settings.precision, "steps": self.steps, "seed": self.seed,
                "average": self.average, "mirror": self.mirror, "tone_anchor": self.tone_anchor}

    def _tile_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.settings.tile is not None:
            return self.settings.tile
        if not self.backend.needs_static_tile(self.device) and height * width <= WHOLE_FRAME_MAX_PIXELS:
            return height, width
        return self.bundle.io.tile

    def session(self, tile_h: int, tile_w: int) -> Denoise:
        """Compiled network for one tile shape (compiled on first use)."""
        key = (tile_h, tile_w)
        if key not in self._sessions:
            spec = SessionSpec(self.settings.precision, self.device, self.settings.batch, tile_h, tile_w,
                               self.settings.cache_dir, self.settings.threads)
            self._sessions[key] = self.backend.open(self.bundle, spec)
        return self._sessions[key]

    def grid(self, height: int, width: int) -> TileGrid:
        """Tile plan for a frame of this size (padded to the network's granularity)."""
        g = self.bundle.io.granularity
        tile_h, tile_w = self._tile_shape(padded_size(height, g), padded_size(width, g))
        ph, pw = padded_size(height, g, tile_h), padded_size(width, g, tile_w)
        key = (ph, pw, tile_h, tile_w)
        if key not in self._grids:
            self._grids[key] = TileGrid.plan(ph, pw, tile_h, tile_w, self.bundle.io.tile_overlap, g)
        return self._grids[key]

    def enhance(self, rgb: np.ndarray, seed: int | None = None) -> np.ndarray:
        """HxWx3 uint8 RGB -> enhanced HxWx3 uint8 RGB of the same size."""
        return to_uint8(self.enhance_float(rgb, self.seed if seed is None else seed))

    def enhance_float(self, rgb: np.ndarray, seed: int) -> np.ndarray:
        """The output frame, HxWx3 float32 in [0, 1] (before rounding): the mean of the
        first ``average`` samples of :meth:`views`, tone-anchored when the bundle says so; grey when
        ``rgb`` is."""
        return self.finish(rgb, running_mean(self.samples(rgb, self.views(seed, self.average))))

    def finish(self, rgb: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """The output frame from the mean of a frame's samples: tone-anchored when the bundle says
        so, grey when ``rgb`` is (one place, for every path that averages samples)."""
        if self.tone_anchor:
            mean = anchor_to_night(rgb, mean, self.tone_anchor)
        return keep_monochrome(rgb, mean)

    def views(self, seed: int, count: int) -> list[tuple[int, bool]]:
        """(seed, mirrored) of the first ``count`` samples of a frame: seeds ``seed, seed + 1, ...``,
        every second one on the mirrored frame when the bundle says ``mirror``."""
        return [(seed + i, self.mirror and i % 2 == 1) for i in range(count)]

    def samples(self, rgb: np.ndarray, views: Iterable[tuple[int, bool]]) -> Iterator[np.ndarray]:
        """One sampler run per (seed, mirrored) view, HxWx3 float32 in [0, 1] each, mirrored views
        mirrored back (lazily: a frame at a time)."""
        check_frame(rgb)
        for seed, mirrored in views:
            if mirrored:
                yield self._sample(np.ascontiguousarray(rgb[:, ::-1]), seed)[:, ::-1]
            else:
                yield self._sample(rgb, seed)

    def _sample(self, rgb: np.ndarray, seed: int) -> np.ndarray:
        height, width = rgb.shape[:2]
        grid = self.grid(height, width)
        cond = np.pad(rgb, ((0, grid.height - height), (0, grid.width - width), (0, 0)), mode="reflect"
                      if grid.height - height < height and grid.width - width < width else "edge")
        cond = np.ascontiguousarray((cond.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
        denoise = tiled_denoiser(self.session(grid.tile_h, grid.tile_w), grid, self.settings.batch)
        out = self.sample(denoise, cond, self.sigmas, seeded_noise(seed, (1, 3, grid.height, grid.width)))
        return np.clip((out[0, :, :height, :width].transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)


class StreamEnhancer:
    """The frames of one video stream, in order: the enhancer with the stream's
    seed, then the bundle's temporal filter (see temporal.py) unless turned off
    or the bundle has none. Call ``reset`` where the stream is discontinuous."""

    def __init__(self, enhancer: Enhancer, temporal: bool = True) -> None:
        self.enhancer = enhancer
        spec = enhancer.bundle.temporal if temporal else None
        self.filter = TemporalFilter(spec) if spec is not None else None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self.enhancer.enhance_float(rgb, self.enhancer.seed)
        return to_uint8(self.filter(out) if self.filter is not None else out)

    def reset(self) -> None:
        """Forget the stream's history (reconnect, stall, model or step change)."""
        if self.filter is not None:
            self.filter.reset()

    def describe(self) -> dict[str, object]:
        spec = self.filter.spec.to_manifest() if self.filter is not None else None
        return {**self.enhancer.describe(), "temporal": spec}


def running_mean(frames: Iterable[np.ndarray]) -> np.ndarray:
    """The mean of float32 frames, holding one extra frame in memory (the frames may come lazily)."""
    runs = iter(frames)
    mean = np.array(next(runs), dtype=np.float32)  # a copy: the caller's first frame is left as it was
    for k, other in enumerate(runs, start=2):
        mean += (other - mean) / np.float32(k)
    return mean


def to_uint8(rgb01: np.ndarray) -> np.ndarray:
    """Round [0, 1] floats to 8-bit (rounding, not truncation: no half-level darkening)."""
    return np.round(rgb01 * 255.0).astype(np.uint8)


def check_frame(rgb: np.ndarray) -> None:
    """Refuse frames the runtime cannot take, with one line saying what is allowed."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise UserError(f"frame of shape {rgb.shape} and type {rgb.dtype}; allowed: HxWx3 uint8 RGB")
    h, w = rgb.shape[:2]
    if h < 1 or w < 1:
        raise UserError(f"frame of size {w}x{h}; allowed: at least 1x1 pixels")
    if h * w > MAX_FRAME_PIXELS:
        raise UserError(f"frame of size {w}x{h} is too large; allowed: at most {MAX_FRAME_PIXELS} pixels")
