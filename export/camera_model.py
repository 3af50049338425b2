"""A physical model of a night-time CCTV camera, used to make training pairs.

Everything before the tone curve happens in *linear light* (scene radiance,
0..1 at a normal exposure), because that is where the physics is linear:

1. **Lamp colour cast** — street lamps are far from daylight. Low/high
   pressure sodium (~1800-2200 K) leaves almost no blue; white LED street
   lights (~3000-5000 K) are slightly green/blue. The camera's auto white
   balance is fooled by the lamp, so a residual per-channel gain remains.
   Modelled as gains ``g_rgb`` (normalised to max 1) times the scene.
2. **Optics and motion** — optional lower resolution (sub-stream or a cheap
   lens: box-downscale by 1-2x) and motion blur (a line kernel of 3-9 px,
   long shutters at night) in linear light.
3. **Under-exposure** — the frame receives a fraction ``e`` of a normal
   exposure, ``e`` log-uniform in [1/40, 1/4] (:data:`EXPOSURE_RANGE`; a
   training recipe may widen the top towards dusk and lit streets, where a
   frame needs little more than a gain and must keep its detail).
4. **Sensor noise (Poisson-Gaussian)** — a pixel collecting ``Q`` electrons at
   full scale records ``v = Poisson(Q * s) / Q + N(0, (r / Q)^2)`` for an
   expected signal ``s``: shot noise of variance ``s / Q`` plus read noise of
   ``r`` electrons. Small-sensor cameras at night gain have ``Q`` of roughly
   300-6000 electrons at full scale and ``r`` of 1-6 e-, so the variance law is
   ``Var(v) = a * s + b`` with ``a = 1/Q``, ``b = (r/Q)^2``.
5. **Row (banding) noise** — the column amplifiers add an offset per row,
   ``N(0, (k * r / Q)^2)`` with ``k`` in [0, 0.6] of the read noise.
6. **Black clipping, tone curve, 8 bits** — negative values clip at the
   black level, the camera applies its gamma (sRGB curve) and quantises to
   8 bits, which makes dark regions posterised.
7. **Compression** — JPEG at the qualities MJPEG / H.264 streams look like
   (15-60, 4:2:0 chroma). H.264 is approximated by JPEG plus a slightly
   blurred chroma; the artefacts (blocking, smeared chroma) are the same kind.
8. **In-camera processing** (each optional, real cameras differ):
   *Bayer mosaic and demosaicing*: the sensor records one colour per
   photosite (RGGB) and the noise is drawn there; bilinear demosaicing then
   spreads it over 2-3 px and mixes it between channels, which is what makes
   night chroma noise blotchy rather than per-pixel. *ISP noise reduction*:
   cameras smooth chroma hard (Gaussian, sigma 1.5-4 px at full strength)
   and luma lightly, leaving low-frequency colour blotches. *Sharpening*: an
   unsharp mask on luma (amount 0.2-1.2, radius 1 px) amplifies the remaining
   noise and draws halos. *4:2:0 chroma*: H.264 streams keep chroma at half
   resolution in both directions.
9. **IR monochrome** (optional) — at night many cameras switch the IR-cut
   filter out and stream grey frames; the target is then grey as well,
   because colour cannot be recovered from an IR frame.

Parameters are drawn by :func:`sample_params` over the whole range, or taken
from the named :data:`CONDITIONS` used for per-condition evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge_agent.runtime.monochrome import to_luma

# Lamp colour as relative linear RGB gains (max 1), before white balance.
LAMPS: dict[str, tuple[float, float, float]] = {
    "neutral": (1.0, 1.0, 1.0),
    "sodium": (1.0, 0.52, 0.12),  # high-pressure sodium, ~2000 K
    "warm_led": (1.0, 0.78, 0.50),  # ~3000 K
    "cool_led": (0.80, 0.95, 1.0),  # ~5000 K with the green bump of phosphor LEDs
}


@dataclass(frozen=True)
class NightParams:
    """One draw of the camera model; every field has a physical meaning."""

    exposure: float = 0.1  # fraction of a normal exposure, 1/40..1/4 (EXPOSURE_RANGE)
    full_well: float = 1500.0  # Q: electrons at full scale (gain-dependent)
    read_noise: float = 3.0  # r: read noise in electrons
    row_noise: float = 0.2  # k: row noise as a fraction of the read noise
    lamp: str = "neutral"
    white_balance: float = 0.5  # 0 = lamp cast kept, 1 = fully corrected
    jpeg_quality: int = 40  # 15..60; 0 disables compression
    h264_chroma_blur: bool = False
    downscale: float = 1.0  # 1..2
    motion_blur: int = 0  # kernel length in px, 0 = none
    motion_angle: float = 0.0  # degrees
    ir_mono: bool = False
    bayer: bool = False  # noise on an RGGB mosaic, then bilinear demosaicing
    isp_denoise: float = 0.0  # 0..1: in-camera chroma (and light luma) smoothing
    sharpen: float = 0.0  # unsharp-mask amount on luma, 0..1.2
    chroma_420: bool = False  # chroma at half resolution (H.264 4:2:0)


# Named night conditions for per-condition evaluation (fixed, not random).
CONDITIONS: dict[str, NightParams] = {
    "dusk_led": NightParams(0.25, 4000, 2.0, 0.1, "cool_led", 0.7, 50),
    "street_sodium": NightParams(0.08, 1500, 3.0, 0.2, "sodium", 0.4, 40),
    "street_led": NightParams(0.06, 1200, 3.0, 0.2, "warm_led", 0.5, 35),
    "very_dark": NightParams(1 / 40, 600, 5.0, 0.4, "sodium", 0.3, 30),
    "low_bitrate": NightParams(0.08, 1500, 3.0, 0.2, "warm_led", 0.5, 18, True),
    "motion_lowres": NightParams(0.06, 1000, 4.0, 0.3, "warm_led", 0.5, 30, True, 1.6, 7, 20.0),
    "ir_mono": NightParams(0.10, 2000, 3.0, 0.2, "neutral", 1.0, 40, ir_mono=True),
    "cctv_isp": NightParams(0.06, 1200, 3.0, 0.2, "warm_led", 0.6, 30, True, bayer=True, isp_denoise=0.6,
                            sharpen=0.8, chroma_420=True),
}


EXPOSURE_RANGE = (1 / 40, 1 / 4)  # fraction of a normal exposure: very dark .. dusk


def sample_params(rng: np.random.Generator, exposure_range: tuple[float, float] = EXPOSURE_RANGE) -> NightParams:
    """Draw camera settings covering the whole night range (log-uniform where
    the quantity acts multiplicatively)."""
    low, high = exposure_range
    if not 0 < low <= high <= 1:
        raise ValueError(f"exposure_range {exposure_range}: allowed 0 < low <= high <= 1 (fractions of a normal exposure)")
    lamp = str(rng.choice(list(LAMPS), p=[0.15, 0.4, 0.3, 0.15]))
    return NightParams(
        exposure=float(np.exp(rng.uniform(np.log(low), np.log(high)))),
        full_well=float(np.exp(rng.uniform(np.log(300), np.log(6000)))),
        read_noise=float(rng.uniform(1.0, 6.0)),
        row_noise=float(rng.uniform(0.0, 0.6)),
        lamp=lamp,
        white_balance=float(rng.uniform(0.0, 0.9)),
        jpeg_quality=int(rng.integers(15, 61)) if rng.random() < 0.9 else 0,
        h264_chroma_blur=bool(rng.random() < 0.5),
        downscale=float(rng.uniform(1.0, 2.0)) if rng.random() < 0.25 else 1.0,
        motion_blur=int(rng.integers(3, 10)) if rng.random() < 0.2 else 0,
        motion_angle=float(rng.uniform(0, 180)),
        ir_mono=bool(rng.random() < 0.1),
        bayer=bool(rng.random() < 0.7),
        isp_denoise=float(rng.uniform(0.2, 1.0)) if rng.random() < 0.5 else 0.0,
        sharpen=float(rng.uniform(0.2, 1.2)) if rng.random() < 0.5 else 0.0,
        chroma_420=bool(rng.random() < 0.5),
    )


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB transfer curve inverse, float in 0..1."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def lamp_gains(p: NightParams) -> np.ndarray:
    """Lamp cast after a partial white balance (geometric blend towards 1)."""
    gains = np.asarray(LAMPS[p.lamp], dtype=np.float64)
    return gains ** (1.0 - p.white_balance)


def sensor_noise(signal: np.ndarray, p: NightParams, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian sensor plus row noise; ``signal`` is the expected
    linear value in 0..1 of full scale. Returns the noisy reading (unclipped)."""
    q = p.full_well
    shot = rng.poisson(np.clip(signal, 0, None) * q).astype(np.float64) / q
    read = rng.normal(0.0, p.read_noise / q, size=signal.shape)
    rows = rng.normal(0.0, p.row_noise * p.read_noise / q, size=(signal.shape[0], 1, 1))
    return shot + read + rows


def noise_variance(signal: np.ndarray | float, p: NightParams) -> np.ndarray | float:
    """The model's variance law for pixel noise (without the row component)."""
    return signal / p.full_well + (p.read_noise / p.full_well) ** 2


def _motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    t = np.deg2rad(angle_deg)
    for s in np.linspace(-c, c, 4 * length):
        x, y = int(round(c + s * np.cos(t))), int(round(c + s * np.sin(t)))
        k[y, x] = 1.0
    return k / k.sum()


def _compress(rgb8: np.ndarray, p: NightParams) -> np.ndarray:
    bgr = rgb8[..., ::-1]
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])
    assert ok
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    if p.h264_chroma_blur:  # H.264 streams smear chroma more than JPEG does
        ycc = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2YCrCb)
        ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (5, 5), 1.2)
        out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    return np.ascontiguousarray(out)


# RGGB mosaic -> RGB; OpenCV 5 names the pattern, older versions use the legacy (shifted) name
_DEMOSAIC = getattr(cv2, "COLOR_BayerRGGB2RGB", cv2.COLOR_BayerBG2RGB)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB Bayer mosaic of an HxWx3 image: one value per photosite, HxWx1."""
    m = rgb[..., 1].copy()
    m[0::2, 0::2] = rgb[0::2, 0::2, 0]
    m[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return m[..., None]


def demosaic(m: np.ndarray) -> np.ndarray:
    """Bilinear demosaicing (what cheap ISPs do) of an HxWx1 linear mosaic in 0..1."""
    m16 = np.round(np.clip(m[..., 0], 0.0, 1.0) * 65535.0).astype(np.uint16)
    return cv2.cvtColor(m16, _DEMOSAIC).astype(np.float64) / 65535.0


def camera_processing(srgb: np.ndarray, p: NightParams) -> np.ndarray:
    """ISP noise reduction, sharpening and 4:2:0 chroma on a float sRGB frame (0..1)."""
    if not (p.isp_denoise or p.sharpen or p.chroma_420):
        return srgb
    ycc = cv2.cvtColor(srgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    if p.isp_denoise:
        ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), 1.5 + 2.5 * p.isp_denoise)
        smooth = cv2.GaussianBlur(ycc[..., 0], (0, 0), 0.8)
        ycc[..., 0] += 0.6 * p.isp_denoise * (smooth - ycc[..., 0])
    if p.sharpen:
        ycc[..., 0] += p.sharpen * (ycc[..., 0] - cv2.GaussianBlur(ycc[..., 0], (0, 0), 1.0))
    if p.chroma_420:
        h, w = ycc.shape[:2]
        half = cv2.resize(ycc[..., 1:], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        ycc[..., 1:] = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), 0.0, 1.0).astype(np.float64)


def degrade(clean_rgb8: np.ndarray, p: NightParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render ``clean_rgb8`` (HxWx3 uint8, RGB) as the night camera would.

    Returns ``(night_rgb8, target_rgb8)``; the target equals the input except
    in IR mode, where it is the grey version of the clean frame.
    """
    h, w = clean_rgb8.shape[:2]
    target = clean_rgb8
    lin = srgb_to_linear(clean_rgb8.astype(np.float64) / 255.0)
    if p.ir_mono:
        lin = to_luma(lin)  # the runtime's luma: a grey camera frame's output is made grey the same way
        target = np.round(to_luma(clean_rgb8.astype(np.float64))).astype(np.uint8)
    else:
        lin = lin * lamp_gains(p)
    if p.motion_blur > 1:
        lin = cv2.filter2D(lin, -1, _motion_kernel(p.motion_blur, p.motion_angle).astype(np.float64))
    if p.downscale > 1.0:
        small = (max(1, round(w / p.downscale)), max(1, round(h / p.downscale)))
        lin = cv2.resize(lin, small, interpolation=cv2.INTER_AREA)
    if p.bayer and not p.ir_mono:
        noisy = demosaic(sensor_noise(mosaic(lin * p.exposure), p, rng))
    else:
        noisy = sensor_noise(lin * p.exposure, p, rng)
    if p.ir_mono:  # IR sensors read out one luminance value per pixel
        noisy = np.repeat(noisy[..., :1], 3, axis=-1)
    night8 = np.round(camera_processing(linear_to_srgb(noisy), p) * 255.0).astype(np.uint8)
    if p.jpeg_quality > 0:
        night8 = _compress(night8, p)
    if night8.shape[:2] != (h, w):
        night8 = cv2.resize(night8, (w, h), interpolation=cv2.INTER_LINEAR)
    return night8, target


def with_exposure(p: NightParams, exposure: float) -> NightParams:
    return replace(p, exposure=exposure)
