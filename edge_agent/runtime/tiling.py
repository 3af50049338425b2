"""Any frame size on a static-shape network: pad, cut into overlapping tiles,
run them in batches, blend back with feathered weights.

Tiling wraps the *denoiser*, not the sampler: every sampler step denoises all
tiles and blends them into one frame-sized estimate before the next step, so
neighbouring tiles agree on the state at every step (no seams accumulate),
and the sampler stays one function for every backend and size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sampler import Denoise


def padded_size(size: int, granularity: int, minimum: int = 0) -> int:
    """``size`` rounded up to ``granularity`` (and at least ``minimum``: one whole tile)."""
    return max(minimum, math.ceil(size / granularity) * granularity)


def axis_origins(size: int, tile: int, overlap: int, granularity: int) -> list[int]:
    """Evenly spread tile origins on one axis, aligned to ``granularity`` so a
    tile sees the same pixel grid phase as the whole frame would."""
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    span = size - tile
    origins = [round(span * i / (count - 1) / granularity) * granularity for i in range(count)]
    origins[-1] = span
    return sorted(set(origins))


def feather(length: int, ramp_start: bool, ramp_end: bool, overlap: int) -> np.ndarray:
    """1-D weight: 0 on the outer quarter of the overlap (where a tile's own
    zero padding corrupts it), rising smoothly to 1; flat on frame borders."""
    margin = overlap // 4
    dist = np.arange(length, dtype=np.float64)
    w = np.ones(length)
    ramp = np.clip((dist + 0.5 - margin) / max(1.0, overlap / 2 - margin), 0.0, 1.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
    if ramp_start:
        w = np.minimum(w, ramp)
    if ramp_end:
        w = np.minimum(w, ramp[::-1])
    return w


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one padded frame sit and how much each pixel of each tile counts."""

    height: int  # padded frame
    width: int
    tile_h: int
    tile_w: int
    origins: tuple[tuple[int, int], ...]
    weights: tuple[np.ndarray, ...]  # one (tile_h, tile_w) map per tile
    norm: np.ndarray  # sum of weights per frame pixel

    @classmethod
    def plan(cls, height: int, width: int, tile_h: int, tile_w: int, overlap: int, granularity: int) -> "TileGrid":
        """Spread tiles evenly with the given overlap and precompute their blend weights."""
        if (height > tile_h and overlap >= tile_h // 2) or (width > tile_w and overlap >= tile_w // 2):
            raise ValueError(f"tile overlap {overlap} must be below half the tile size {tile_h}x{tile_w}")
        ys = axis_origins(height, tile_h, overlap, granularity)
        xs = axis_origins(width, tile_w, overlap, granularity)
        origins, weights = [], []
        norm = np.zeros((height, width))
        for y in ys:
            wy = feather(tile_h, y > 0, y + tile_h < height, overlap)
            for x in xs:
                wx = feather(tile_w, x > 0, x + tile_w < width, overlap)
                w = np.outer(wy, wx)
                origins.append((y, x))
                weights.append(w.astype(np.float32))
                norm[y:y + tile_h, x:x + tile_w] += w
        if norm.min() <= 0:
            raise ValueError("tile plan leaves pixels uncovered")  # cannot happen with overlap > 2 * margin
        return cls(height, width, tile_h, tile_w, tuple(origins), tuple(weights), norm.astype(np.float32))

    def cut(self, frame: np.ndarray) -> np.ndarray:
        """(C, H, W) frame -> (T, C, tile_h, tile_w) tiles."""
        return np.stack([frame[:, y:y + self.tile_h, x:x + self.tile_w] for y, x in self.origins])

    def blend(self, tiles: np.ndarray) -> np.ndarray:
        """(T, C, tile_h, tile_w) tiles -> (C, H, W) frame, weighted so seams vanish."""
        out = np.zeros((tiles.shape[1], self.height, self.width), np.float32)
        for tile, (y, x), w in zip(tiles, self.origins, self.weights):
            out[:, y:y + self.tile_h, x:x + self.tile_w] += tile * w
        return out / self.norm


def tiled_denoiser(session: Denoise, grid: TileGrid, batch: int) -> Denoise:
    """Turn a denoiser on fixed (batch, 3, tile_h, tile_w) inputs into one on a
    single padded frame (1, 3, H, W). A short last batch is filled with copies
    because static-shape sessions take exactly ``batch`` tiles."""

    def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
        x_tiles, cond_tiles = grid.cut(x[0]), grid.cut(cond[0])
        outs = []
        for start in range(0, len(x_tiles), batch):
            xb, cb = x_tiles[start:start + batch], cond_tiles[start:start + batch]
            real = len(xb)
            if real < batch:
                fill = batch - real
                xb = np.concatenate([xb, np.repeat(xb[-1:], fill, 0)])
                cb = np.concatenate([cb, np.repeat(cb[-1:], fill, 0)])
            outs.append(session(xb, np.full((batch,), sigma[0], np.float32), cb)[:real])
        return grid.blend(np.concatenate(outs))[None]

    return denoise
