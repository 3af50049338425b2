"""Training pairs made on the fly, and the fixed held-out evaluation set.

Training: a random clean frame (weighted by area), a random scale (0.4-1:
downscaling also removes the source's own noise), a random crop and flip,
then a fresh draw of the night camera model. Evaluation: every held-out frame
under every named night condition, with a seed fixed per (frame, condition),
so every run and every enhancer sees identical inputs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .camera_model import CONDITIONS, EXPOSURE_RANGE, NightParams, degrade, linear_to_srgb, sample_params, srgb_to_linear
from .print_augment import paste_print_masked

EVAL_SEED = 20261124


def load_split(data_dir: Path, split: str) -> dict[str, np.ndarray]:
    index = json.loads((data_dir / "index.json").read_text())
    frames = {}
    for name in index[split]:
        bgr = cv2.imread(str(data_dir / split / f"{name}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"dataset frame missing: {data_dir / split / name}.png")
        frames[name] = np.ascontiguousarray(bgr[..., ::-1])
    return frames


def source_scales(data_dir: Path, split: str, weights: dict[str, float]) -> list[float]:
    """Per frame of ``split`` (in load_split's order), the weight of its source package in ``weights``
    (1 for a source not named). SystemExit naming the source when ``weights`` names one the dataset lacks."""
    index = json.loads((data_dir / "index.json").read_text())
    sources = index.get("sources", {})
    known = {sources.get(name, "") for name in index[split]}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise SystemExit(f"error: source_weights names {unknown}, not a source of {data_dir}'s {split} frames; "
                         f"allowed: {sorted(known)}")
    scales = [float(weights.get(sources.get(name, ""), 1.0)) for name in index[split]]
    if any(not (w >= 0.0 and np.isfinite(w)) for w in weights.values()) or not any(w > 0 for w in scales):
        raise SystemExit(f"error: source_weights {weights}: weights must be finite and >= 0, and leave a frame to draw")
    return scales


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    min_scale = max(size / min(h, w), 0.4)
    scale = rng.uniform(min(min_scale, 1.0), 1.0)
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(size, round(w * scale)), max(size, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    if h < size or w < size:  # tiny source: upscale rather than pad
        f = size / min(h, w)
        rgb = cv2.resize(rgb, (max(size, round(w * f)), max(size, round(h * f))), interpolation=cv2.INTER_CUBIC)
        h, w = rgb.shape[:2]
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    crop = rgb[y:y + size, x:x + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


_SRGB_LEVELS_LINEAR = srgb_to_linear(np.arange(256) / 255.0)


def jitter_white_point(rgb8: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The same scene under a slightly different illuminant: per-channel gains
    in linear light, log-normal with ``sigma``, geometric mean 1.

    Why: the training set is 87 photos and frames; without this the network
    learns their palettes as the colour of the world, and the longer it trains
    the more it paints held-out scenes in them (the blue cast on vtest.avi of
    teacher v2 @40,000, export/README.md). The idea was that jittering the
    clean scene's white point -- input and target alike -- leaves only the
    night frame itself to judge the colour from. Measured worse (student v3,
    export/README.md): it widens the prior towards grey-world. What fixed the
    drift is distillation's low-frequency colour anchor; this stays an option
    (default off) to reproduce that result."""
    gains = np.exp(rng.normal(0.0, sigma, 3))
    gains /= np.exp(np.log(gains).mean())
    luts = [np.round(linear_to_srgb(_SRGB_LEVELS_LINEAR * g) * 255.0).astype(np.uint8) for g in gains]
    out = np.empty_like(rgb8)
    for c in range(3):
        out[..., c] = luts[c][rgb8[..., c]]
    return out


def to_tensor(rgb8: np.ndarray) -> torch.Tensor:
    # in numpy: torch's small elementwise ops here cost more in thread hand-offs than in arithmetic
    return torch.from_numpy(np.ascontiguousarray(rgb8.transpose(2, 0, 1), dtype=np.float32) * (1 / 255.0))


class NightPairs(IterableDataset):
    """Endless (night, clean) pairs; yields tensors in [0, 1], CHW. With ``print_mask`` each item also
    carries where rendered print was pasted (1xHxW, 0..1), for a loss that weighs those pixels; with
    ``with_exposure`` it ends with the camera model's exposure (1x1x1), for loss terms that only hold
    over part of the range. Exposures are drawn log-uniform over ``exposure_range``. A frame is drawn
    with odds in proportion to the square root of its area, times its ``frame_scales`` entry if given."""

    def __init__(self, frames: dict[str, np.ndarray], crop: int, seed: int, print_fraction: float = 0.0,
                 white_point_jitter: float = 0.0, print_fonts: tuple[str, ...] = (),
                 print_mask: bool = False, print_dihedral: bool = False,
                 exposure_range: tuple[float, float] = EXPOSURE_RANGE, with_exposure: bool = False,
                 frame_scales: list[float] | None = None) -> None:
        self.frames = list(frames.values())
        areas = np.array([f.shape[0] * f.shape[1] for f in self.frames], dtype=np.float64)
        weights = np.sqrt(areas) * (1.0 if frame_scales is None else np.asarray(frame_scales, np.float64))
        self.weights = weights / weights.sum()  # big photos count more, not overwhelmingly; sources as scaled
        self.crop = crop
        self.seed = seed
        self.print_fraction = print_fraction
        self.white_point_jitter = white_point_jitter
        self.print_fonts = tuple(print_fonts)
        self.print_mask = print_mask
        self.print_dihedral = print_dihedral
        self.exposure_range = tuple(exposure_range)
        self.with_exposure = with_exposure

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        info = get_worker_info()
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        rng = np.random.default_rng([self.seed, rank, info.id if info else 0])
        while True:
            clean = random_crop(self.frames[rng.choice(len(self.frames), p=self.weights)], self.crop, rng)
            covered = np.zeros(clean.shape[:2], np.float32)
            while rng.random() < self.print_fraction:  # geometric: 0, 1, 2... prints, mean f / (1 - f)
                clean, mask = paste_print_masked(clean, rng, self.print_fonts, self.print_dihedral)
                covered = np.maximum(covered, mask)
            if self.white_point_jitter:
                clean = jitter_white_point(clean, self.white_point_jitter, rng)
            params = sample_params(rng, self.exposure_range)
            night, target = degrade(clean, params, rng)
            item = (to_tensor(night), to_tensor(target))
            if self.print_mask:
                item += (torch.from_numpy(covered[None]),)
            if self.with_exposure:
                item += (torch.full((1, 1, 1), params.exposure),)
            yield item


def _pair_seed(name: str, condition: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{EVAL_SEED}:{name}:{condition}".encode()).digest()[:8], "big")


def eval_pairs(data_dir: Path, max_side: int = 384, conditions: dict[str, NightParams] | None = None,
               limit: int | None = None) -> list[dict]:
    """The fixed held-out set: each frame (downscaled to ``max_side``, sides a
    multiple of 16) under each named condition. Returns dicts with
    name, condition, night and clean (uint8 RGB)."""
    conditions = conditions or CONDITIONS
    frames = load_split(data_dir, "eval")
    out = []
    for name, rgb in list(frames.items())[:limit]:
        rgb = fit_multiple(rgb, max_side, 16)
        for cond_name, params in conditions.items():
            rng = np.random.default_rng(_pair_seed(name, cond_name))
            night, target = degrade(rgb, params, rng)
            out.append({"name": name, "condition": cond_name, "night": night, "clean": target})
    return out


def fit_multiple(rgb: np.ndarray, max_side: int, multiple: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    nh, nw = max(multiple, int(h * s) // multiple * multiple), max(multiple, int(w * s) // multiple * multiple)
    if (nh, nw) != (h, w):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return rgb


class ReplayBatches:
    """Batches drawn from a pool of degraded pairs that is refreshed a few
    pairs per step.

    Why: on a 2-core CPU, simulating the night camera for a batch of 192-px
    crops (19 ms a pair) costs about as long as the training step itself.
    Each pair is reused ``pool / fresh``-ish times, with a random flip or
    transpose, and the diffusion noise and sigma are drawn fresh every time,
    so reuse costs little; the whole pool turns over every ``pool / fresh``
    steps."""

    def __init__(self, pairs: Iterator[tuple[torch.Tensor, ...]], pool: int, fresh: int, batch: int,
                 seed: int) -> None:
        self.pairs, self.fresh, self.batch = pairs, fresh, batch
        self.rng = np.random.default_rng(seed)
        first = [next(pairs) for _ in range(pool)]
        # one pool per tensor of an item: (night, clean) or (night, clean, print mask)
        self.pools = [torch.stack(parts) for parts in zip(*first)]

    def __iter__(self) -> "ReplayBatches":
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        size = len(self.pools[0])
        for _ in range(self.fresh):
            i = int(self.rng.integers(size))
            for pool, part in zip(self.pools, next(self.pairs)):
                pool[i] = part
        idx = torch.from_numpy(self.rng.choice(size, self.batch, replace=False))
        parts = [pool[idx] for pool in self.pools]
        if self.rng.random() < 0.5:
            parts = [t.flip(2) for t in parts]
        if self.rng.random() < 0.5:
            parts = [t.transpose(2, 3) for t in parts]
        return tuple(t.contiguous() for t in parts)
