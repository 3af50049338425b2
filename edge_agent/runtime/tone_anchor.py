"""Tie the output's large-scale tone to the night frame: one colour transform for the whole frame.

Why: the network renders each region's brightness and colour on its own, and
measured on real CCTV frames most of its error against the clean frame sits
at scales above ~40 px (export/README.md, session 13): matching only the
output's low frequencies to the clean frame's would lift it from ~21 to
~28 dB. The physics says those scales are a *global* transform of the night
frame: exposure, lamp cast and white balance act on the whole frame alike,
and over a large neighbourhood the sensor noise averages out. So the output
keeps its own detail (everything finer than ``sigma``) and its own global
rendering (the transform is fitted to the output, not to any reference),
while its large-scale content becomes that transform applied to the night
frame's: regional blotches and shading the network invented go, the
network's choice of exposure and colour stays.

The transform is affine in RGB (a 3x3 matrix and an offset, 12 numbers,
least squares over the whole frame) and everything runs at a quarter of the
resolution: at 1280x720 a fit over 57,600 pixels and two small blurs.
"""
from __future__ import annotations

import cv2
import numpy as np

SCALE = 4  # the fit and the blurs run at 1/SCALE of the frame's resolution


def _low_pass(small: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(small, (0, 0), sigma, borderType=cv2.BORDER_REFLECT101)


def fit_colour_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 4x3 matrix ``M`` minimising ``|[source, 1] M - target|^2`` over all pixels (NxHxWx3 -> 4x3).
    A grey source leaves the matrix rank-deficient; the minimum-norm solution then spreads the
    weight evenly over its equal channels, which is the same transform."""
    design = np.concatenate([source.reshape(-1, 3), np.ones((source[..., 0].size, 1), np.float64)], axis=1)
    matrix, *_ = np.linalg.lstsq(design, target.reshape(-1, 3), rcond=1e-6)
    return matrix


def anchor_to_night(night_rgb8: np.ndarray, out01: np.ndarray, sigma: float) -> np.ndarray:
    """``out01`` (HxWx3 float in [0, 1]) with its content coarser than ``sigma`` px replaced by the
    colour transform of the night frame's that fits it best. Returns float32 in [0, 1]."""
    h, w = out01.shape[:2]
    size = (max(1, round(w / SCALE)), max(1, round(h / SCALE)))
    night_small = cv2.resize(night_rgb8, size, interpolation=cv2.INTER_AREA).astype(np.float64) / 255.0
    out_small = cv2.resize(np.asarray(out01, np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float64)
    night_low = _low_pass(night_small, sigma / SCALE)
    out_low = _low_pass(out_small, sigma / SCALE)
    matrix = fit_colour_transform(night_low, out_low)
    transformed = np.concatenate([night_low, np.ones(night_low.shape[:2] + (1,))], axis=2) @ matrix
    correction = cv2.resize((transformed - out_low).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out01 + correction, 0.0, 1.0).astype(np.float32)
