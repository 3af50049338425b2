"""Image-quality metrics on uint8 RGB frames.

PSNR is reported twice: as is, and after matching the output's mean
brightness to the reference ("PSNR-m"), because the exposure of a night
frame is ambiguous and otherwise dominates the score (../shared/FINDINGS.md).
"""
from __future__ import annotations

import cv2
import numpy as np


def psnr(out: np.ndarray, ref: np.ndarray) -> float:
    mse = np.mean((out.astype(np.float64) - ref.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def psnr_mean_matched(out: np.ndarray, ref: np.ndarray) -> float:
    """PSNR after scaling the output so its mean luminance equals the reference's."""
    o = out.astype(np.float64)
    gain = ref.astype(np.float64).mean() / max(o.mean(), 1e-6)
    return psnr(np.clip(o * gain, 0, 255), ref)


def ssim(out: np.ndarray, ref: np.ndarray) -> float:
    """SSIM (Wang et al. 2004; Gaussian window 11, sigma 1.5) on luma."""
    def luma(rgb: np.ndarray) -> np.ndarray:
        return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    x, y = luma(out), luma(ref)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda a: cv2.GaussianBlur(a, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m[5:-5, 5:-5].mean())


def ciede2000(out: np.ndarray, ref: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (lower is better)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(ref), rgb2lab(out)).mean())


def temporal_flicker(outputs: list[np.ndarray], clean: list[np.ndarray], static_threshold: float = 2.0) -> float:
    """Mean absolute frame-to-frame change (0-255 scale) of the output on pixels
    that are static in the clean clip (clean change below ``static_threshold``)."""
    changes = []
    for (o0, o1), (c0, c1) in zip(zip(outputs, outputs[1:]), zip(clean, clean[1:])):
        static = np.abs(c1.astype(np.float64) - c0).max(axis=-1) < static_threshold
        diff = np.abs(o1.astype(np.float64) - o0).mean(axis=-1)
        if static.any():
            changes.append(diff[static].mean())
    return float(np.mean(changes)) if changes else 0.0


def moving_psnr(outputs: list[np.ndarray], clean: list[np.ndarray], moving_threshold: float = 20.0) -> float:
    """PSNR on the pixels that clearly move in the clean clip (a change of at
    least ``moving_threshold`` from the previous frame): a temporal filter that
    smears moving objects loses here first."""
    errors = []
    for o1, (c0, c1) in zip(outputs[1:], zip(clean, clean[1:])):
        moving = np.abs(c1.astype(np.float64) - c0).max(axis=-1) >= moving_threshold
        if moving.any():
            errors.append(((o1.astype(np.float64) - c1)[moving] ** 2).mean())
    return float(10 * np.log10(255.0**2 / np.mean(errors))) if errors else float("nan")


def all_metrics(out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(out, ref), "psnr_m": psnr_mean_matched(out, ref), "ssim": ssim(out, ref),
            "de2000": ciede2000(out, ref)}
