"""Calibration frames at the camera's own light levels: from a folder of
images, a video file, or a live camera (RTSP/HTTP URL or a V4L2 index).

Frames are spread over the source (every n-th frame of a video, a frame
every ``interval`` seconds from a live camera) so that calibration sees the
scene's range of light, not one moment of it.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.errors import UserError
from edge_agent.media import IMAGE_EXTS, VIDEO_EXTS, VideoReader, folder_images, read_image


def from_folder(folder: Path, count: int) -> list[np.ndarray]:
    images = folder_images(folder)
    picks = np.linspace(0, len(images) - 1, min(count, len(images))).round().astype(int)
    return [read_image(images[i]) for i in sorted(set(picks))]


def from_video(path: Path, count: int) -> list[np.ndarray]:
    frames = list(VideoReader(path))
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks))]


def from_camera(source: str, count: int, interval: float = 2.0, timeout: float = 20.0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise UserError(f"camera {source} cannot be opened; allowed: an RTSP/HTTP URL or a V4L2 device index")
    frames: list[np.ndarray] = []
    last_ok = time.monotonic()
    try:
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                if time.monotonic() - last_ok > timeout:
                    raise UserError(f"camera {source} delivered no frame for {timeout:.0f} s")
                time.sleep(0.2)
                continue
            last_ok = time.monotonic()
            frames.append(np.ascontiguousarray(bgr[..., ::-1]))
            time.sleep(interval)
    finally:
        cap.release()
    return frames


def collect(source: str, count: int, interval: float = 2.0) -> list[np.ndarray]:
    path = Path(source)
    if path.is_dir():
        return from_folder(path, count)
    if path.is_file() and path.suffix.lower() in VIDEO_EXTS:
        return from_video(path, count)
    if path.is_file() and path.suffix.lower() in IMAGE_EXTS:
        return [read_image(path)]
    if "://" in source or source.isdigit():
        return from_camera(source, count, interval)
    raise UserError(f"calibration source {source!r} is not a folder, video, image, URL or camera index")
