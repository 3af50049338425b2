"""The tone anchor in torch (export/tone_anchor_torch.py), which the students train through: the same
frame as the runtime's numpy anchor and gradients that reach the network's detail (a tiny
distillation through it: tests/test_training.py)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_agent.runtime.tone_anchor import anchor_to_night as runtime_anchor  # noqa: E402
from export.tone_anchor_torch import anchor_to_night, gaussian_kernel  # noqa: E402
from test_tone_anchor import H, W, scene, transformed  # noqa: E402


def chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None]


def blotched(night8: np.ndarray) -> np.ndarray:
    """A transform of the night frame plus fine stripes and a broad invented colour blotch."""
    yy, xx = np.mgrid[0:H, 0:W]
    blotch = 0.08 * np.exp(-((yy - 70) ** 2 + (xx - 96) ** 2) / (2 * 30.0**2))[..., None] * np.array([-1, 1, -1])
    stripes = 0.04 * np.sign(np.sin(np.arange(W) * 2.1))[None, :, None]
    return np.clip(transformed(night8) + stripes + blotch, 0, 1).astype(np.float32)


def test_the_kernel_is_opencvs():
    import cv2

    for sigma in (1.5, 2.0, 6.0):
        taps = cv2.getGaussianKernel(int(round(sigma * 8 + 1)) | 1, sigma, cv2.CV_64F)[:, 0]
        np.testing.assert_allclose(gaussian_kernel(sigma).numpy(), taps, atol=1e-12)


@pytest.mark.parametrize("sigma", [8.0, 24.0])
def test_the_same_frame_as_the_runtime_anchor(sigma):
    night8 = scene()
    out = blotched(night8)
    expected = runtime_anchor(night8, out, sigma)
    got = anchor_to_night(chw(night8 / 255.0), chw(out), sigma).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    moved = np.abs(expected - out).mean()
    assert moved > 0.005  # the anchor does change this frame
    assert np.abs(got - expected).mean() < moved / 25 and np.abs(got - expected).max() < 0.01


def test_a_grey_infrared_batch_stays_finite_and_the_gradient_reaches_the_detail():
    grey = np.repeat(scene()[..., :1], 3, axis=2)
    out = chw(blotched(grey)).repeat(2, 1, 1, 1).requires_grad_(True)
    anchored = anchor_to_night(chw(grey / 255.0).repeat(2, 1, 1, 1), out, 24.0)
    assert torch.isfinite(anchored).all()
    anchored[0, :, 60:64, 90:94].sum().backward()
    grad = out.grad[0].abs().sum(0)
    assert grad[60:64, 90:94].min() > 0.5  # a pixel's own value passes nearly one to one
    assert out.grad[1].abs().max() == 0  # items are fitted apart

