"""Make the bundled demo clip: the first seconds of OpenCV's vtest.avi (a real
static surveillance camera, held out from training) rendered by the night
camera model, fresh sensor noise every frame.

    python -m export.make_sample --out samples/night_vtest.avi
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from .camera_model import CONDITIONS, degrade
from .sources import EVAL_VIDEO, OPENCV_DATA, fetch_debian_package, video_frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("samples/night_vtest.avi"))
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--condition", choices=sorted(CONDITIONS), default="street_sodium")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    vtest = fetch_debian_package("opencv-doc", args.cache) / OPENCV_DATA / EVAL_VIDEO
    writer = None
    for i, rgb in video_frames(vtest, 1):
        if i >= args.frames:
            break
        night, _ = degrade(rgb, CONDITIONS[args.condition], np.random.default_rng(i))
        if writer is None:
            writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, rgb.shape[1::-1])
        writer.write(night[..., ::-1])
    writer.release()
    print(f"{args.out}: {args.frames} frames, {args.condition}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
