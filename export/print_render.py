"""Small print pasted into clean frames before the night degradation: the
material the print judges (``export/judges.py``) try to read back.

Two kinds of target, at the sizes a CCTV frame shows them:

* **text**: plate-like strings (7 characters, two letters, two digits, three
  letters, e.g. ``KD47 HXW``) in DejaVu Sans Bold, dark on a light panel, at
  glyph (cap) heights from 8 to 16 px in the frame;
* **QR codes** (OpenCV's encoder, error correction M) with modules of
  2.5 to 4 px.

Each target is drawn 4x supersampled, given a realistic contrast (panel and
ink luminance drawn per target), a perspective (the sign turned away from the
camera by up to ~35 degrees and rotated a few degrees), box-downsampled into
the frame and blurred by the lens (Gaussian, sigma 0.3-0.6 px), then
alpha-composited. Everything is a pure function of the frame and the seed
(numpy's PCG64 and FreeType's rasteriser), so the same call gives the same
pixels on every run (tests/test_judges.py checks it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",  # Debian fonts-dejavu-core
                   "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf")
LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ"  # no I, O, Q (plates leave them out: they read as 1, 0) and no J
# (Tesseract drops a final J at these sizes even on clean frames: a reader quirk, not a test of the enhancer)
DIGITS = "23456789"  # no 0, 1 for the same reason
TEXT_CHARSET = LETTERS + DIGITS
SUPER = 4  # supersampling factor of the drawing
TEXT_HEIGHTS = (8.0, 9.5, 11.0, 12.5, 14.0, 16.0)  # glyph cap heights in frame pixels
QR_MODULES = (2.5, 3.0, 4.0)  # QR module sizes in frame pixels


@dataclass(frozen=True)
class PrintTarget:
    kind: str  # "text" or "qr"
    truth: str
    size_px: float  # glyph cap height (text) or module size (qr), in frame pixels
    box: tuple[int, int, int, int]  # x0, y0, x1, y1: where it landed (inclusive-exclusive)
    contrast: float  # (panel - ink) / panel luminance
    quad: tuple[tuple[float, float], ...] = ()  # the sign's corners in the frame (TL, TR, BR, BL)
    sign_px: tuple[float, float] = (0.0, 0.0)  # the sign's unwarped width, height in frame pixels

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=None)
def font_path() -> str:
    for p in FONT_CANDIDATES:
        if Path(p).exists():
            return p
    raise FileNotFoundError("DejaVu Sans Bold not found (apt-get install fonts-dejavu-core); "
                            f"looked in {', '.join(FONT_CANDIDATES)}")


@lru_cache(maxsize=None)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(font_path(), size)


def plate_string(rng: np.random.Generator) -> str:
    pick = lambda chars, n: "".join(chars[i] for i in rng.integers(0, len(chars), n))  # noqa: E731
    return f"{pick(LETTERS, 2)}{pick(DIGITS, 2)} {pick(LETTERS, 3)}"


def qr_string(rng: np.random.Generator) -> str:
    return f"CAM{rng.integers(10, 100)}-{rng.integers(1000, 10000)}"


def _text_sign(text: str, cap_px: float) -> np.ndarray:
    """Mask (1 = ink) of the text on its panel, supersampled; panel margins included."""
    from PIL import Image, ImageDraw

    cap_super = cap_px * SUPER
    probe = _font(200)
    cap_ratio = (probe.getbbox("H")[3] - probe.getbbox("H")[1]) / 200.0
    font = _font(max(8, int(round(cap_super / cap_ratio))))
    x0, y0, x1, y1 = font.getbbox(text)
    pad_x, pad_y = int(round(0.8 * cap_super)), int(round(0.6 * cap_super))
    img = Image.new("L", (x1 - x0 + 2 * pad_x, y1 - y0 + 2 * pad_y), 0)
    ImageDraw.Draw(img).text((pad_x - x0, pad_y - y0), text, fill=255, font=font)
    return np.asarray(img, dtype=np.float64) / 255.0


def _qr_sign(text: str, module_px: float) -> np.ndarray:
    """Mask (1 = dark module) of the code with a 4-module quiet zone, supersampled."""
    params = cv2.QRCodeEncoder_Params()
    params.correction_level = cv2.QRCODE_ENCODER_CORRECT_LEVEL_M
    code = cv2.QRCodeEncoder_create(params).encode(text)  # 1 px per module, white quiet zone
    dark = (code < 128).astype(np.float64)
    cell = max(1, int(round(module_px * SUPER)))
    return np.kron(dark, np.ones((cell, cell)))


def _warp(mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Perspective of a sign seen off-axis: one vertical edge shorter (yaw),
    a small roll. Returns the warped ink mask, the panel's alpha and the
    sign's corners in the warped canvas."""
    h, w = mask.shape
    yaw = rng.uniform(0.0, 0.22)  # far edge up to 22% shorter: ~35 degrees off-axis
    squeeze = 1.0 - 0.5 * yaw  # foreshortening of the width
    roll = np.deg2rad(rng.uniform(-4.0, 4.0))
    far_right = rng.random() < 0.5
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dw = w * squeeze
    left_h, right_h = (h, h * (1 - yaw)) if far_right else (h * (1 - yaw), h)
    dst = np.float64([[0, (h - left_h) / 2], [dw, (h - right_h) / 2], [dw, (h + right_h) / 2], [0, (h + left_h) / 2]])
    c, s = np.cos(roll), np.sin(roll)
    dst = (dst - dst.mean(0)) @ np.array([[c, s], [-s, c]])
    dst -= dst.min(0) - 2 * SUPER  # keep a margin for the blur
    out_w, out_h = (dst.max(0) + 2 * SUPER).astype(int)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    ink = cv2.warpPerspective(mask, m, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR)
    panel = cv2.warpPerspective(np.ones_like(mask), m, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR)
    return ink, panel, dst


def _to_frame_scale(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return cv2.resize(a, (max(1, round(w / SUPER)), max(1, round(h / SUPER))), interpolation=cv2.INTER_AREA)


def _paste(frame: np.ndarray, ink: np.ndarray, panel: np.ndarray, x: int, y: int, rng: np.random.Generator,
           panel_lum: float, ink_lum: float, tint: np.ndarray) -> None:
    """Composite in place: panel colour where the panel is, ink where the ink is; lens blur on both."""
    blur = rng.uniform(0.3, 0.6)
    ink = cv2.GaussianBlur(_to_frame_scale(ink), (0, 0), blur)
    panel = cv2.GaussianBlur(_to_frame_scale(panel), (0, 0), blur)
    h, w = ink.shape
    region = frame[y:y + h, x:x + w].astype(np.float64)
    colour = (panel_lum * (1 - ink[..., None]) + ink_lum * ink[..., None]) * tint * 255.0
    region = region * (1 - panel[..., None]) + colour * panel[..., None]
    frame[y:y + h, x:x + w] = np.clip(np.round(region), 0, 255).astype(np.uint8)


def render_print(clean: np.ndarray, seed: int, text_heights: tuple[float, ...] = TEXT_HEIGHTS,
                 qr_modules: tuple[float, ...] = QR_MODULES) -> tuple[np.ndarray, list[PrintTarget]]:
    """Paste one sign per text height and one code per module size into a
    copy of ``clean`` (HxWx3 uint8 RGB), laid out on a grid of cells so none
    overlap. Returns the new clean frame and where each target landed."""
    rng = np.random.default_rng([20261124, seed])
    frame = clean.copy()
    height, width = frame.shape[:2]
    kinds = [("text", s) for s in text_heights] + [("qr", s) for s in qr_modules]
    order = rng.permutation(len(kinds))
    cols = 3
    rows = -(-len(kinds) // cols)
    cell_w, cell_h = width // cols, height // rows
    targets = []
    for slot, k in enumerate(order):
        kind, size = kinds[k]
        truth = plate_string(rng) if kind == "text" else qr_string(rng)
        mask = _text_sign(truth, size) if kind == "text" else _qr_sign(truth, size)
        ink, panel, quad = _warp(mask, rng)
        h, w = -(-ink.shape[0] // SUPER), -(-ink.shape[1] // SUPER)
        if h > cell_h - 4 or w > cell_w - 4:
            raise ValueError(f"frame {width}x{height} too small for a {kind} of size {size}")
        r, c = divmod(slot, cols)
        x = c * cell_w + int(rng.integers(2, cell_w - w - 1))
        y = r * cell_h + int(rng.integers(2, cell_h - h - 1))
        panel_lum = rng.uniform(0.55, 0.92)  # a grey-to-white sign under the scene's light
        contrast = rng.uniform(0.55, 0.85)
        tint = np.array([1.0, 1.0, 1.0]) if rng.random() < 0.6 else np.array([1.0, 0.93, 0.55])  # white / yellow plate
        _paste(frame, ink, panel, x, y, rng, panel_lum, panel_lum * (1 - contrast), tint)
        hh, ww = _to_frame_scale(ink).shape
        corners = tuple((float(x + (px + 0.5) / SUPER - 0.5), float(y + (py + 0.5) / SUPER - 0.5)) for px, py in quad)
        targets.append(PrintTarget(kind, truth, float(size), (x, y, x + ww, y + hh), float(contrast), corners,
                                   (mask.shape[1] / SUPER, mask.shape[0] / SUPER)))
    return frame, targets
