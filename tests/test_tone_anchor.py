"""The tone anchor (edge_agent/runtime/tone_anchor.py): an output's content coarser than the anchor's
scale becomes the colour transform of the night frame's that fits it best; its finer content stays.
Formula frames with known answers, then the bundle setting end to end on the tiny bundle (real ONNX
Runtime sessions)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import night_image
from edge_agent.errors import BundleError
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.runtime.forensic import enhance_with_uncertainty
from edge_agent.runtime.tone_anchor import anchor_to_night, fit_colour_transform
from edge_agent.updates.install import smoke_test
from test_mirror import sampler_bundle

H, W = 144, 192
MATRIX = np.array([[1.6, 0.1, 0.0], [0.05, 1.4, 0.1], [0.0, 0.2, 2.2], [0.05, 0.02, 0.0]])  # 3x3 and offset


def scene() -> np.ndarray:
    """A night frame of 16-px patches in random dim colours (0.05-0.3), their edges softened."""
    patches = np.random.default_rng(3).uniform(0.05, 0.3, (H // 16, W // 16, 3))
    smooth = cv2.GaussianBlur(np.kron(patches, np.ones((16, 16, 1))), (0, 0), 2.0)
    return np.round(smooth * 255).astype(np.uint8)


def transformed(night8: np.ndarray) -> np.ndarray:
    n = night8.astype(np.float64) / 255
    return np.concatenate([n, np.ones(n.shape[:2] + (1,))], axis=2) @ MATRIX


def low(img: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    return cv2.GaussianBlur(img.astype(np.float64), (0, 0), sigma)


def test_the_fit_recovers_a_known_colour_transform():
    night = scene().astype(np.float64) / 255
    np.testing.assert_allclose(fit_colour_transform(night, transformed(scene())), MATRIX, atol=1e-6)


def test_invented_blotches_go_and_detail_and_global_rendering_stay():
    night = scene()
    detail = 0.04 * np.sign(np.sin(np.arange(W) * 2.1))[None, :, None] * np.ones((H, 1, 3))  # 1-2 px stripes
    yy, xx = np.mgrid[0:H, 0:W]
    blotch = 0.08 * np.exp(-((yy - 70) ** 2 + (xx - 96) ** 2) / (2 * 30.0**2))[..., None] * np.array([-1, 1, -1])
    out = np.clip(transformed(night) + detail + blotch, 0, 1).astype(np.float32)
    anchored = anchor_to_night(night, out, 8.0)
    assert anchored.dtype == np.float32 and anchored.shape == out.shape
    inner = (slice(24, -24), slice(24, -24))  # away from the borders' reflections
    before = (low(out) - low(transformed(night)))[inner]
    after = (low(anchored) - low(transformed(night)))[inner]
    # the blotch's shape goes: what stays of it is spread over the frame (the fit is to the output,
    # whose global rendering, blotch included, the anchor keeps)
    assert np.ptp(before) > 0.07 and np.ptp(after, axis=(0, 1)).max() < np.ptp(before) / 2.5
    high = lambda img: img.astype(np.float64) - low(img, 2.0)  # noqa: E731
    np.testing.assert_allclose(high(anchored)[inner], high(out)[inner], atol=0.01)  # the stripes stay


def test_an_output_that_already_is_a_transform_of_the_night_frame_is_left_alone():
    out = np.clip(transformed(scene()), 0, 1).astype(np.float32)
    np.testing.assert_allclose(anchor_to_night(scene(), out, 8.0), out, atol=0.004)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (37, 53)])
def test_small_odd_and_grey_frames(shape):
    grey = np.repeat(night_image(*shape, 2)[..., :1], 3, axis=2)
    out = np.random.default_rng(0).random(shape + (3,)).astype(np.float32)
    anchored = anchor_to_night(grey, out, 8.0)
    assert anchored.shape == out.shape and np.isfinite(anchored).all()
    assert anchored.min() >= 0 and anchored.max() <= 1


@pytest.fixture(scope="module")
def anchored_bundle(tiny_bundle, tmp_path_factory) -> Path:
    return sampler_bundle(tiny_bundle, tmp_path_factory.mktemp("anchor") / "b", average=2, mirror=True, tone_anchor=8.0)


def fp32(bundle: Path) -> Enhancer:
    return Enhancer(load_bundle(bundle), EnhanceSettings(backend="onnxruntime", precision="fp32"))


def test_the_bundle_setting_anchors_the_mean_of_the_samples(anchored_bundle, tiny_bundle):
    frame = night_image(64, 96, 4)
    enhancer = fp32(anchored_bundle)
    mean = np.mean(list(enhancer.samples(frame, enhancer.views(0, 2))), axis=0)
    out = enhancer.enhance_float(frame, 0)
    np.testing.assert_allclose(out, anchor_to_night(frame, mean, 8.0), atol=1e-6)
    assert enhancer.describe()["tone_anchor"] == 8.0 and fp32(tiny_bundle).describe()["tone_anchor"] == 0.0
    assert load_bundle(anchored_bundle).manifest["sampler"]["tone_anchor"] == 8.0
    enhanced, _ = enhance_with_uncertainty(enhancer, frame)  # the forensic path gives the same frame
    assert np.array_equal(enhanced, enhancer.enhance(frame))
    live = smoke_test(load_bundle(anchored_bundle), EnhanceSettings(backend="onnxruntime", precision="fp32"))
    assert live.tone_anchor == 8.0


@pytest.mark.parametrize("bad,why", [(-1, "tone_anchor -1.0 is not allowed; allowed: 0 \\(off\\) to 64 px"),
                                     (100, "tone_anchor 100.0 is not allowed"), ("wide", "malformed sampler")])
def test_a_bad_tone_anchor_is_refused(tiny_bundle, tmp_path, bad, why):
    out = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sampler"]["tone_anchor"] = bad
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=why):
        load_bundle(out)
