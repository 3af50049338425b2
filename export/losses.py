"""Image losses the training recipes add to EDM's weighted L2 (teacher and students share them).

Why beyond L2: at the large sigmas a few-step sampler starts from, L2 alone learns the blurred mean of
plausible frames: it smooths edges (gradient L1 answers that) and trades local contrast and structure
for the last fraction of a dB, which the native table's SSIM sees (the luma SSIM loss answers that,
computed exactly as `export.metrics.ssim` judges: Gaussian window 11, sigma 1.5, BT.601 luma).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA_601 = (0.299, 0.587, 0.114)  # the weights export.metrics.ssim judges luma with


def gradient_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of horizontal and vertical image gradients, optionally weighted per
    pixel (``weight`` broadcastable to ``a``; each difference takes the weight of its first pixel)."""
    dx = ((a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])).abs()
    dy = ((a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])).abs()
    if weight is not None:
        dx, dy = dx * weight[..., :, :-1], dy * weight[..., :-1, :]
    return dx.mean() + dy.mean()


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map_luma(a01: torch.Tensor, b01: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of two RGB batches in [0, 1] (N, 3, H, W) on BT.601 luma, valid region only
    (the metric drops the 5-px border the window overhangs)."""
    w = torch.tensor(LUMA_601, dtype=torch.float32, device=a01.device).view(1, 3, 1, 1)
    x, y = (a01.float() * w).sum(1, keepdim=True), (b01.float() * w).sum(1, keepdim=True)
    g = _gaussian_window().to(a01.device)
    gx, gy = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)

    def blur(img: torch.Tensor) -> torch.Tensor:  # separable, valid: (H-10) x (W-10)
        return F.conv2d(F.conv2d(img, gx), gy)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - mean luma SSIM of two batches in the data space [-1, 1]."""
    return 1 - ssim_map_luma((a + 1) / 2, (b + 1) / 2).mean()
