from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.runtime.tiling import TileGrid, axis_origins, tiled_denoiser

from conftest import night_image


def box_blur_session(x, sigma, cond):
    """A convolutional formula model with a 5x5 receptive field and zero
    padding at the tile edge, like a real network's."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[i, c] = cv2.blur(cond[i, c], (5, 5), borderType=cv2.BORDER_CONSTANT)
    return out


@pytest.mark.parametrize("size", [(64, 64), (96, 160), (200, 130), (256, 256)])
def test_constant_frame_stays_constant(size):
    h, w = size
    grid = TileGrid.plan(h, w, 64, 64, 16, 16)
    cond = np.full((1, 3, h, w), 0.37, np.float32)
    out = tiled_denoiser(lambda x, s, c: c * 1.0, grid, batch=3)(cond, np.ones(1, np.float32), cond)
    np.testing.assert_allclose(out, 0.37, atol=1e-6)


def test_seam_error_no_larger_than_inside_tiles():
    h, w = 192, 256
    rng = np.random.default_rng(0)
    cond = rng.random((1, 3, h, w), dtype=np.float32)
    whole = box_blur_session(cond, None, cond)
    grid = TileGrid.plan(h, w, 64, 96, 24, 16)
    assert len(grid.origins) > 4
    tiled = tiled_denoiser(box_blur_session, grid, batch=2)(cond, np.ones(1, np.float32), cond)
    err = np.abs(tiled - whole)[0].max(axis=0)
    seams = np.zeros((h, w), bool)
    for y, x in grid.origins:
        for edge in (y, y + grid.tile_h):
            seams[max(0, edge - 12):edge + 12, :] = True
        for edge in (x, x + grid.tile_w):
            seams[:, max(0, edge - 12):edge + 12] = True
    seams[:2, :] = seams[-2:, :] = seams[:, :2] = seams[:, -2:] = False  # frame border: zero padding in both
    inside = ~seams
    inside[:2, :] = inside[-2:, :] = inside[:, :2] = inside[:, -2:] = False
    assert err[seams].max() <= max(err[inside].max(), 1e-6)


def test_origins_cover_and_align():
    for size in (64, 100, 720, 1280):
        o = axis_origins(size, 64, 16, 16)
        assert o[0] == 0 and o[-1] == max(0, size - 64)
        assert all(b - a <= 64 - 16 for a, b in zip(o, o[1:]))


def test_real_network_tiled_matches_whole_frame(tiny_bundle):
    """With the real ONNX network: the tiled result is close to the untiled
    one, and no worse at seams than the unavoidable interior differences."""
    bundle = load_bundle(tiny_bundle)
    frame = night_image(128, 192, 3)
    whole = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32")).enhance_float(frame, 0)
    tiled_enh = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32", tile=(64, 64), batch=4))
    tiled = tiled_enh.enhance_float(frame, 0)
    assert len(tiled_enh.grid(128, 192).origins) >= 6
    assert np.abs(tiled - whole).mean() < 0.02


def test_small_and_odd_frames_keep_their_size(tiny_bundle):
    enh = Enhancer(load_bundle(tiny_bundle), EnhanceSettings(backend="onnxruntime", precision="fp32", tile=(64, 64)))
    for h, w in [(1, 1), (5, 7), (63, 65), (100, 33)]:
        assert enh.enhance(night_image(h, w)).shape == (h, w, 3)
