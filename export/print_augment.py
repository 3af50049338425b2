"""Print pasted into clean training crops: signs, plates and codes at camera scale.

Why: the photographs we can train on hold almost no small print, so a
network trained on them learns that small high-contrast marks are noise and
erases them (measured: the 0.2.0 student read 2 % of small codes). Each call
renders one object the way a surveillance camera meets it and pastes it into
the clean frame *before* the night camera model, so the pair teaches the
network to keep it:

* text: a random string (plate-like, sign-like or digits) in one of OpenCV's
  Hershey fonts, glyph height 7-24 px, on a plate of random colour with
  contrast 0.15-1 (faded signs to black-on-white plates);
* codes: a QR code with modules of 1.5-4 px;
* then a small random perspective (the camera looks down at an angle), a
  little optical blur (sigma 0-0.9 px) and a soft-edged paste.

Optionally, text is also set in TrueType bold sans fonts (``fonts``: e.g.
Debian's Liberation Sans Bold and FreeSans Bold): plates and signs are set in
bold sans faces, whose heavy stems at 9-11 px are what a denoiser thins into
another letter (B read as S, 8 as 6: the wrong reads of student v4). The
evaluation's print judge renders with DejaVu Sans Bold, which training never
uses, so the judge does not test memorised glyphs.

Optionally (``dihedral``), each rendered object is turned by a random one of
the eight rotations and mirrorings of the square before it is pasted. Why:
upright letters teach the network a letter prior, and where the night frame
has lost a glyph's counters (a B at 9.5 px under Bayer noise) it completes
the strokes into the nearest upright letter, which a reader takes for the
truth. In all eight orientations the print still teaches thin strokes and
fine contrast, but no shape is more likely than its mirror image, so an
ambiguous glyph has no letter to be completed into.

:func:`paste_print_masked` also returns where the print lies, so a loss can
weigh those few pixels by what they are worth to an investigator.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN,
         cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"


def random_string(rng: np.random.Generator) -> str:
    style = rng.integers(3)
    if style == 0:  # plate-like: AB12 CDE
        return ("".join(rng.choice(list(LETTERS), 2)) + "".join(rng.choice(list(DIGITS), 2)) + " "
                + "".join(rng.choice(list(LETTERS), 3)))
    if style == 1:  # digits: house numbers, times, codes
        return "".join(rng.choice(list(DIGITS + " :-"), rng.integers(3, 9))).strip() or "0"
    return "".join(rng.choice(list(LETTERS + DIGITS + " "), rng.integers(4, 12))).strip() or "A"


def plate_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A plate's RGB background and ink (0..1), contrast 0.15-1: faded signs to black-on-white plates."""
    background = rng.uniform(0, 1, 3)
    contrast = rng.uniform(0.15, 1.0)
    return background, np.clip(background + (-1 if background.mean() > 0.5 else 1) * contrast, 0, 1)


def render_text(rng: np.random.Generator) -> np.ndarray:
    """An RGB float patch (0..1) of a plate with a line or two of text."""
    font = int(rng.choice(FONTS))
    glyph = rng.uniform(7, 24)
    scale = glyph / cv2.getTextSize("H", font, 1.0, 1)[0][1]
    thickness = 1 if glyph < 14 or rng.random() < 0.5 else 2
    lines = [random_string(rng) for _ in range(1 if rng.random() < 0.7 else 2)]
    sizes = [cv2.getTextSize(t, font, scale, thickness)[0] for t in lines]
    pad = int(glyph * 0.5) + 2
    w = max(s[0] for s in sizes) + 2 * pad
    line_h = int(glyph * 1.6)
    h = line_h * len(lines) + 2 * pad
    background, ink = plate_colours(rng)
    patch = np.empty((h, w, 3), np.uint8)
    patch[:] = np.round(background * 255).astype(np.uint8)
    for i, t in enumerate(lines):
        cv2.putText(patch, t, (pad, pad + int(glyph) + i * line_h), font, scale, (ink * 255).tolist(), thickness,
                    cv2.LINE_AA)
    return patch.astype(np.float64) / 255.0


@lru_cache(maxsize=64)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_text_truetype(rng: np.random.Generator, font_path: str) -> np.ndarray:
    """As :func:`render_text`, set in a TrueType face: glyph (cap) height 7-24 px, drawn 4x larger with
    antialiasing and reduced, so thin and heavy stems land on the pixel grid as a camera's optics would."""
    glyph = rng.uniform(7, 24)
    size = int(round(glyph * 4 / 0.72))  # cap height is ~0.72 em in sans faces
    font = _truetype(font_path, size)
    lines = [random_string(rng) for _ in range(1 if rng.random() < 0.7 else 2)]
    boxes = [font.getbbox(t) for t in lines]
    pad = int(glyph * 4 * 0.5) + 8
    line_h = int(glyph * 4 * 1.6)
    w = max(b[2] - b[0] for b in boxes) + 2 * pad
    h = line_h * len(lines) + 2 * pad
    ink_mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(ink_mask)
    for i, (t, b) in enumerate(zip(lines, boxes)):
        draw.text((pad - b[0], pad + i * line_h - b[1]), t, fill=255, font=font)
    small = (max(4, w // 4), max(4, h // 4))
    alpha = cv2.resize(np.asarray(ink_mask, np.float64) / 255.0, small, interpolation=cv2.INTER_AREA)[..., None]
    background, ink = plate_colours(rng)
    return np.clip(background * (1 - alpha) + ink * alpha, 0.0, 1.0)  # resampling can overshoot by ~1e-8


def render_code(rng: np.random.Generator) -> np.ndarray:
    """A QR code with a quiet zone, modules of 1.5-4 px, as an RGB float patch."""
    code = cv2.QRCodeEncoder.create().encode(random_string(rng))
    module = rng.uniform(1.5, 4.0)
    code = np.pad(code, 2, constant_values=255).astype(np.float64) / 255.0  # 1 px per module, 4-module quiet zone
    side = max(8, int(round(code.shape[0] * module)))
    small = cv2.resize(code, (side, side), interpolation=cv2.INTER_AREA)
    dark, light = sorted(rng.uniform(0, 1, 2))
    light = max(light, dark + 0.3)
    return np.repeat((dark + (min(light, 1.0) - dark) * small)[..., None], 3, axis=-1)


def paste_print(rgb8: np.ndarray, rng: np.random.Generator, fonts: tuple[str, ...] = ()) -> np.ndarray:
    """Paste one rendered sign, plate or code into a copy of ``rgb8`` (uint8 RGB)."""
    return paste_print_masked(rgb8, rng, fonts)[0]


def random_dihedral(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``patch`` (HxWxC) under one of the 8 symmetries of the square, uniformly."""
    turned = np.rot90(patch, int(rng.integers(4)))
    return np.ascontiguousarray(turned[:, ::-1] if rng.random() < 0.5 else turned)


def _random_patch(rng: np.random.Generator, fonts: tuple[str, ...]) -> np.ndarray:
    if rng.random() < 0.3:
        return render_code(rng)
    if fonts and rng.random() < 0.5:
        return render_text_truetype(rng, fonts[int(rng.integers(len(fonts)))])
    return render_text(rng)


def paste_print_masked(rgb8: np.ndarray, rng: np.random.Generator, fonts: tuple[str, ...] = (),
                       dihedral: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paste_print`, also returning the pasted object's coverage (HxW float32, 0..1); with
    ``dihedral`` the object is turned or mirrored at random first (see the module's docstring)."""
    patch = _random_patch(rng, fonts)
    if dihedral:
        patch = random_dihedral(patch, rng)
    ph, pw = patch.shape[:2]
    h, w = rgb8.shape[:2]
    if ph >= h - 2 or pw >= w - 2:
        f = 0.9 * min((h - 2) / ph, (w - 2) / pw)
        patch = cv2.resize(patch, (max(4, int(pw * f)), max(4, int(ph * f))), interpolation=cv2.INTER_AREA)
        ph, pw = patch.shape[:2]
    y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    jitter = rng.uniform(-0.08, 0.08, (4, 2)) * np.float32([pw, ph])
    dst = (src + jitter + np.float32([x, y])).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(patch.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    blur = rng.uniform(0, 0.9)
    if blur > 0.2:
        warped = cv2.GaussianBlur(warped, (0, 0), blur)
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    out = rgb8.astype(np.float32) / 255.0 * (1 - mask[..., None]) + warped * mask[..., None]
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8), mask
