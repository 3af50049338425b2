"""A grey frame in, a grey frame out.

At night many cameras take the IR-cut filter out and stream monochrome
frames (R = G = B, up to the codec's rounding). No colour can be recovered
from such a frame, so any colour in the enhanced one is invented: measured,
the network tinted IR frames of vtest.avi blue by +40 levels (its prior for
a frame whose blue is missing is a sodium lamp). The runtime therefore
checks the camera's frame and, when it is monochrome, returns the luma of
the network's output on all three channels, with the weights the training
targets of IR frames are made with (export/camera_model.degrade calls to_luma).
"""
from __future__ import annotations

import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601; cast to the frame's float type where used
# A monochrome frame's channels differ only by the codec's rounding (JPEG/H.264 decode: 0-1 level, a
# few levels at the edges of blocks); a colour frame, even a very dark one, differs by chroma noise
# and the lamp's cast. Thresholds on every 4th pixel of each 4th row (cheap on a 1080p frame):
MAX_MEAN_CHANNEL_SPREAD = 1.0  # mean over pixels of the largest |R-G|, |B-G| in levels
MAX_P99_CHANNEL_SPREAD = 4.0  # its 99th percentile (a grey frame has no coloured patch at all)


def channel_spread(rgb: np.ndarray) -> np.ndarray:
    """Largest difference of R and B from G per sampled pixel, in levels (uint8 RGB in)."""
    sample = rgb[::4, ::4].astype(np.int16)
    green = sample[..., 1]
    return np.maximum(np.abs(sample[..., 0] - green), np.abs(sample[..., 2] - green))


def is_monochrome(rgb: np.ndarray) -> bool:
    """True when an HxWx3 uint8 RGB camera frame carries no colour (an IR or grey stream)."""
    spread = channel_spread(rgb)
    return bool(spread.mean() <= MAX_MEAN_CHANNEL_SPREAD and np.percentile(spread, 99) <= MAX_P99_CHANNEL_SPREAD)


def to_luma(out: np.ndarray) -> np.ndarray:
    """HxWx3 float output -> its luma on all three channels (same dtype and range)."""
    luma = out @ LUMA_WEIGHTS.astype(out.dtype)
    return np.repeat(luma[..., None], 3, axis=-1)


def keep_monochrome(camera_rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The enhanced frame, made grey when the camera's frame was grey."""
    return to_luma(out) if is_monochrome(camera_rgb) else out
