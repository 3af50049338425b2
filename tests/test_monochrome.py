"""A grey (IR) camera frame gives a grey enhanced frame; a colour one, however dark, keeps its colour."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import night_image
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from edge_agent.runtime.monochrome import is_monochrome, keep_monochrome, to_luma
from export.camera_model import CONDITIONS, degrade


def scene(h: int = 144, w: int = 192, seed: int = 0) -> np.ndarray:
    """A clean daylight-like colour scene: coloured blocks with texture."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 230, (h // 16 + 1, w // 16 + 1, 3)).repeat(16, 0).repeat(16, 1)[:h, :w]
    return np.clip(blocks + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_ir_frames_of_the_camera_model_are_monochrome(seed):
    rng = np.random.default_rng(seed)
    for quality in (0, 15, 40):  # uncompressed, and JPEG with its rounding and 4:2:0 chroma
        night, target = degrade(scene(seed=seed), replace(CONDITIONS["ir_mono"], jpeg_quality=quality), rng)
        assert is_monochrome(night), quality
        assert is_monochrome(target)


@pytest.mark.parametrize("condition", [c for c in CONDITIONS if c != "ir_mono"])
def test_colour_night_frames_are_not_monochrome_even_very_dark(condition):
    night, _ = degrade(scene(seed=3), CONDITIONS[condition], np.random.default_rng(1))
    assert not is_monochrome(night)


def test_a_faint_coloured_patch_on_a_grey_frame_is_colour():
    frame = np.full((64, 64, 3), 90, np.uint8)
    frame[8:24, 8:24] = (110, 90, 80)  # 6 % of the frame with a 20-level cast
    assert is_monochrome(np.full((64, 64, 3), 90, np.uint8)) and not is_monochrome(frame)


def test_to_luma_uses_the_ir_targets_weights_and_keeps_colour_frames():
    out = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    assert np.allclose(to_luma(out)[0, :, 0], [0.299, 0.587, 0.114]) and to_luma(out).dtype == np.float32
    colour = night_image(32, 32)
    assert keep_monochrome(colour, out) is out
    grey = np.repeat(colour[..., :1], 3, axis=-1)
    assert np.array_equal(keep_monochrome(grey, out), to_luma(out))


def test_the_enhancer_never_paints_colour_into_a_grey_frame(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="int8"))
    grey = np.repeat(night_image(48, 80, 2)[..., 1:2], 3, axis=-1)
    colour = night_image(48, 80, 2)
    for out in (enhancer.enhance(grey), StreamEnhancer(enhancer)(grey)):
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    tinted = enhancer.enhance(colour)
    assert np.abs(tinted[..., 0].astype(int) - tinted[..., 2]).mean() > 2  # colour frames keep their colour
