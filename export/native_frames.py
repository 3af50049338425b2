"""The frames the native table scores: real CCTV stills of vtest.avi spread over
the whole clip, held-out photos as the dataset holds them, 1280x720 frames of
held-out source photos, the vtest frames print is pasted into, the static clip
for video; and the fixed seed of each (frame, condition) pair. Nothing here is
ever downscaled for scoring (see native_eval.py for what is scored and how)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera_model import CONDITIONS
from .sources import EVAL_VIDEO, OPENCV_DATA, WALLPAPER_PHOTOS, fetch_debian_package, is_eval, read_rgb

VTEST_FRAMES = 42  # >= 40 real frames spread over the whole clip
HD = (1280, 720)
MIN_PHOTO_SIDE = 640
SEED_SALT = "native-eval-v1"


@dataclass
class Plan:
    """How much to score. ``full`` is the README's table; ``quick`` judges a candidate in minutes."""

    vtest: int = VTEST_FRAMES
    photos: int = 99
    hd: int = 99
    print_scenes: int = 4
    clip_frames: int = 24
    video_conditions: tuple[str, ...] = ("street_sodium", "very_dark")
    seeds: int = 3  # sampler seeds per model for the print judges (the first is the model's own)
    bm3d: bool = True
    conditions: tuple[str, ...] = tuple(CONDITIONS)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(vtest=6, photos=1, hd=1, print_scenes=2, clip_frames=8, video_conditions=("street_sodium",),
                   seeds=1)


def _crop16(rgb: np.ndarray) -> np.ndarray:
    """Centre-crop to multiples of 16 (the networks' granularity); never rescales."""
    h, w = rgb.shape[:2]
    nh, nw = h // 16 * 16, w // 16 * 16
    y, x = (h - nh) // 2, (w - nw) // 2
    return np.ascontiguousarray(rgb[y:y + nh, x:x + nw])


def vtest_path(debs: Path) -> Path:
    return fetch_debian_package("opencv-doc", debs) / OPENCV_DATA / EVAL_VIDEO


def read_video_frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    wanted, out = set(indices), {}
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while len(out) < len(wanted):
            ok, bgr = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = np.ascontiguousarray(bgr[..., ::-1])
            i += 1
    finally:
        cap.release()
    if len(out) < len(wanted):
        raise FileNotFoundError(f"{path}: only {i} frames, wanted up to {max(wanted)}")
    return out


def vtest_indices(total: int, n: int) -> list[int]:
    """``n`` frames spread evenly over the clip. A smaller ``n`` takes every
    k-th of the full set, so quick runs reuse the full run's cached peers."""
    full = [int(round(v)) for v in np.linspace(0, total - 1, VTEST_FRAMES)]
    if n >= VTEST_FRAMES:
        return [int(round(v)) for v in np.linspace(0, total - 1, n)]
    step = VTEST_FRAMES // n
    return full[::step][:n]


def hd_frame(rgb: np.ndarray) -> np.ndarray:
    """A 1280x720 frame of a photo at least that large: 16:9 centre crop, area-resized to 720p when much larger."""
    h, w = rgb.shape[:2]
    ch, cw = (h, int(h * 16 / 9)) if w * 9 >= h * 16 else (int(w * 9 / 16), w)
    if cw < HD[0] * 1.1:  # at most 10% larger than 720p: crop to exactly 1280x720, no resampling at all
        ch, cw = HD[1], HD[0]
    y, x = (h - ch) // 2, (w - cw) // 2
    crop = rgb[y:y + ch, x:x + cw]
    return np.ascontiguousarray(cv2.resize(crop, HD, interpolation=cv2.INTER_AREA) if cw != HD[0] else crop)


def held_out_sources(debs: Path) -> dict[str, np.ndarray]:
    """Held-out source photos (by export/sources.py's split rule) at their full size."""
    out = {}
    data = fetch_debian_package("opencv-doc", debs) / OPENCV_DATA
    for path in sorted(data.iterdir()):
        name = f"opencv_{path.stem}"
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"} and is_eval(name):
            rgb = read_rgb(path)
            if rgb is not None:
                out[name] = rgb
    for package, names in WALLPAPER_PHOTOS.items():
        root = fetch_debian_package(package, debs)
        for name in names:
            if not is_eval(f"wall_{name}"):
                continue
            candidates = [c for c in sorted(root.rglob(f"{name}/contents/images/*")) + sorted(root.rglob(f"{name}.*"))
                          if c.suffix.lower() in {".jpg", ".jpeg", ".png"}]
            if candidates:
                rgb = read_rgb(max(candidates, key=lambda c: c.stat().st_size))
                if rgb is not None:
                    out[f"wall_{name}"] = rgb
    return out


@dataclass
class Frames:
    stills: dict[str, tuple[str, np.ndarray]]  # name -> (set, clean frame)
    print_backgrounds: dict[str, np.ndarray]
    clip: list[np.ndarray]
    vtest_total: int


def print_backgrounds(full_idx: list[int], n: int) -> list[int]:
    """The vtest frames print is pasted into: every 7th scored still from the 4th (fixed, so earlier
    tables stay comparable; none of them a scored still in quick mode), then, for more than those 6,
    frames midway between scored stills, spread over the clip. Why more: wrong reads are rare events
    (tens over three seeds), so telling two models apart needs more plates than 6 scenes hold."""
    midway = [(a + b) // 2 for a, b in zip(full_idx, full_idx[1:])]
    return (full_idx[3::7] + midway[1::2] + midway[0::2])[:n]


def load_frames(plan: Plan, data: Path, debs: Path, video: Path | None = None) -> Frames:
    """The scored frames; ``video`` replaces vtest.avi (tests use a synthetic clip)."""
    video = video or vtest_path(debs)
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    still_idx = vtest_indices(total, plan.vtest)
    full_idx = vtest_indices(total, VTEST_FRAMES)
    print_idx = print_backgrounds(full_idx, plan.print_scenes)
    clip_idx = list(range(plan.clip_frames))
    got = read_video_frames(video, sorted(set(still_idx + print_idx + clip_idx)))
    stills: dict[str, tuple[str, np.ndarray]] = {f"vtest_{i:04d}": ("real CCTV", got[i]) for i in still_idx}
    photos = []
    index_file = data / "index.json"
    if index_file.exists():
        for name in json.loads(index_file.read_text())["eval"]:
            if name.startswith("vtest"):
                continue
            bgr = cv2.imread(str(data / "eval" / f"{name}.png"), cv2.IMREAD_COLOR)
            if bgr is not None and min(bgr.shape[:2]) >= MIN_PHOTO_SIDE:
                photos.append((name, _crop16(np.ascontiguousarray(bgr[..., ::-1]))))
    for name, rgb in photos[:plan.photos]:
        stills[f"photo_{name}"] = ("photos", rgb)
    if plan.hd > 0:
        big = {n: r for n, r in held_out_sources(debs).items() if r.shape[0] >= HD[1] and r.shape[1] >= HD[0]}
        for name, rgb in list(big.items())[:plan.hd]:
            stills[f"hd_{name}"] = ("1280x720", hd_frame(rgb))
    return Frames(stills, {f"print_{i:04d}": got[i] for i in print_idx}, [got[i] for i in clip_idx], total)


def pair_seed(name: str, condition: str) -> np.random.Generator:
    d = hashlib.sha256(f"{SEED_SALT}:{name}:{condition}".encode()).digest()
    return np.random.default_rng(int.from_bytes(d[:8], "big"))
