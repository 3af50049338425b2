"""The runtime's tone anchor (edge_agent/runtime/tone_anchor.py) in torch, differentiable, for training.

Why train through it: a bundle with ``sampler.tone_anchor`` replaces everything
coarser than the anchor's sigma in the network's output by a colour transform
of the night frame's, so the network's own coarse tone reaches the viewer only
through the 12 numbers of that transform. A loss on the anchored output stops
spending the network's capacity on regional tone the anchor overwrites anyway
and puts it on what survives: detail finer than sigma, and a global rendering
the transform can carry.

The same steps as the runtime's, batched: area-downsample by 4, a Gaussian
low-pass (cv2's kernel size rule, reflect-101 borders), a least-squares affine
colour fit per item, the correction upsampled bilinearly. Two differences,
both in the fit: normal equations with a tiny ridge instead of a minimum-norm
``lstsq`` (the same transform on a grey, IR frame as the ridge goes to zero)
and, in training, one fit per crop instead of per frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from edge_agent.runtime.tone_anchor import SCALE

RIDGE = 1e-6  # relative to the design's mean diagonal: keeps a grey (IR) frame's normal equations solvable


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """cv2.getGaussianKernel's taps for ``GaussianBlur(..., (0, 0), sigma)`` on float images."""
    size = int(round(sigma * 8 + 1)) | 1
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def low_pass(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of NxCxHxW with reflect-101 borders (torch's 'reflect')."""
    taps = gaussian_kernel(sigma).to(img.dtype)
    c = img.shape[1]
    for dim in (3, 2):  # width, then height
        radius = min(len(taps) // 2, img.shape[dim] - 1)  # torch cannot reflect past one period
        k = taps[len(taps) // 2 - radius: len(taps) // 2 + radius + 1]
        k = k / k.sum()
        pad = (radius, radius, 0, 0) if dim == 3 else (0, 0, radius, radius)
        shape = (1, 1, 1, len(k)) if dim == 3 else (1, 1, len(k), 1)
        img = F.conv2d(F.pad(img, pad, mode="reflect") if radius else img, k.reshape(shape).expand(c, -1, -1, -1),
                       groups=c)
    return img


def _design(img: torch.Tensor) -> torch.Tensor:
    """Nx3xhxw -> Nx4x(h*w): each pixel's colour and a 1 (the offset)."""
    flat = img.reshape(img.shape[0], 3, -1)
    return torch.cat([flat, torch.ones_like(flat[:, :1])], dim=1)


def fit_colour_transform(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per item, the 4x3 ``M`` minimising ``|[source, 1] M - target|^2`` (Nx3xhxw each -> Nx4x3)."""
    n = source.shape[0]
    design = _design(source)
    gram = design @ design.transpose(1, 2)  # Nx4x4
    ridge = RIDGE * gram.diagonal(dim1=1, dim2=2).mean(dim=1).view(n, 1, 1)
    rhs = design @ target.reshape(n, 3, -1).transpose(1, 2)  # Nx4x3
    return torch.linalg.solve(gram + ridge * torch.eye(4, dtype=gram.dtype), rhs)


def anchor_to_night(night01: torch.Tensor, out01: torch.Tensor, sigma: float) -> torch.Tensor:
    """``out01`` (Nx3xHxW, [0, 1]) with its content coarser than ``sigma`` px replaced by the colour
    transform of the night frame's that fits it best. Not clipped (a loss keeps its gradient)."""
    h, w = out01.shape[2:]
    size = (max(1, round(h / SCALE)), max(1, round(w / SCALE)))
    night_low = low_pass(F.adaptive_avg_pool2d(night01.double(), size), sigma / SCALE)
    out_low = low_pass(F.adaptive_avg_pool2d(out01.double(), size), sigma / SCALE)
    matrix = fit_colour_transform(night_low, out_low)
    transformed = (matrix.transpose(1, 2) @ _design(night_low)).reshape(night_low.shape)
    correction = F.interpolate((transformed - out_low).to(out01.dtype), size=(h, w), mode="bilinear",
                               align_corners=False)
    return out01 + correction

