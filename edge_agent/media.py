"""Reading and writing images, folders and videos, with clear errors and
atomic outputs (a temporary file in the destination folder, renamed into
place only when complete).

The file extensions the project reads and writes are defined here and only
here: the CLI, the camera's image-folder source, calibration and the
training-data collector (export/sources.py) all ask this module.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import UserError
from .fsutil import atomic_write_bytes, replace_into_place, temp_beside

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "XVID", ".mov": "mp4v"}  # container -> fourcc we write
VIDEO_EXTS = tuple(VIDEO_CODECS)  # videos `enhance` takes and writes (same container in and out)
# Footage we only ever read (training and calibration sources): OpenCV's FFmpeg
# also decodes these, but we never write them.
READABLE_VIDEO_EXTS = (*VIDEO_EXTS, ".webm", ".m4v")
MAX_DECODE_PIXELS = 1 << 30  # OpenCV's CV_IO_MAX_IMAGE_PIXELS


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """libjpeg and FFmpeg print warnings such as 'Premature end of JPEG file'
    straight to fd 2; our own error line says it better, so silence them."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def kind_of(path: Path) -> str:
    """'folder', 'image' or 'video'; anything else is refused."""
    if not path.exists():
        raise UserError(f"input {path} does not exist; allowed: an image, a folder of images or a video file")
    if path.is_dir():
        return "folder"
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    raise UserError(f"input {path} has an unsupported format '{ext}'; allowed: images "
                    f"{' '.join(IMAGE_EXTS)}, videos {' '.join(VIDEO_EXTS)}, or a folder")


def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB; grey and alpha images are converted."""
    if not os.access(path, os.R_OK):
        raise UserError(f"image {path} cannot be read (permission denied or missing)")
    if path.stat().st_size == 0:
        raise UserError(f"image {path} is empty (0 bytes); allowed: a non-empty image file")
    try:
        with quiet_native_stderr():
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV 5 raises for images past its pixel limit (decompression bombs)
        if "MAX_IMAGE_PIXELS" in str(exc):
            raise UserError(f"image {path} is too large; allowed: at most {MAX_DECODE_PIXELS} pixels") from None
        raise UserError(f"image {path} cannot be decoded ({str(exc).strip().splitlines()[-1]})") from None
    if bgr is None:
        raise UserError(f"image {path} cannot be decoded (corrupt, too large or not an image); "
                        f"allowed: {' '.join(IMAGE_EXTS)}")
    return np.ascontiguousarray(bgr[..., ::-1])


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Encode by the extension and write atomically (an earlier result is never half-overwritten)."""
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTS:
        raise UserError(f"output {path} has an unsupported image format '{ext}'; allowed: {' '.join(IMAGE_EXTS)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, rgb[..., ::-1], params)
    if not ok:
        raise UserError(f"output {path}: OpenCV cannot encode '{ext}' images")
    atomic_write_bytes(path, buf.tobytes())


def folder_images(folder: Path) -> list[Path]:
    """The images of a folder in name order (others are skipped, none is an error)."""
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not images:
        raise UserError(f"folder {folder} holds no images; allowed: {' '.join(IMAGE_EXTS)}")
    return images


class TruncatedVideo(UserError):
    """A video that stops decoding before its announced end (a recording cut
    off by a power loss or a full disk). ``frames`` decoded fine; callers that
    can use a partial result (``edge-agent enhance``) keep them."""

    exit_code = 4

    def __init__(self, message: str, frames: int) -> None:
        super().__init__(message)
        self.frames = frames


@dataclass(frozen=True)
class VideoInfo:
    """What an output video must match: frame rate, size and the announced frame count."""

    fps: float
    width: int
    height: int
    frames: int  # as the container reports it; 0 when unknown


class VideoReader:
    """RGB frames of a video file, with the truncation checks a corrupt file needs."""
    def __init__(self, path: Path) -> None:
        self.path = path
        if not os.access(path, os.R_OK) or path.stat().st_size == 0:
            raise UserError(f"video {path} cannot be read (missing, empty or permission denied)")
        with quiet_native_stderr():
            self.cap = cv2.VideoCapture(str(path))
            ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok:
            self.cap.release()
            raise UserError(f"video {path} cannot be decoded (corrupt or unsupported codec); allowed: {' '.join(VIDEO_EXTS)}")
        self._first: np.ndarray | None = first
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(fps if fps and fps > 0 else 25.0, first.shape[1], first.shape[0],
                              max(0, int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))))

    def __iter__(self) -> Iterator[np.ndarray]:
        """RGB frames; raises if the stream ends before its announced length
        or a frame changes size (both signs of a truncated or corrupt file)."""
        index = 0
        try:
            while True:
                if self._first is not None:
                    bgr, self._first = self._first, None
                else:
                    with quiet_native_stderr():
                        ok, bgr = self.cap.read()
                    if not ok:
                        break
                if bgr.shape[:2] != (self.info.height, self.info.width):
                    raise TruncatedVideo(f"video {self.path}: frame {index} is {bgr.shape[1]}x{bgr.shape[0]}, "
                                         f"not {self.info.width}x{self.info.height} (corrupt stream)", index)
                yield np.ascontiguousarray(bgr[..., ::-1])
                index += 1
        finally:
            self.cap.release()
        if self.info.frames and index < self.info.frames:
            raise TruncatedVideo(f"video {self.path} ended at frame {index} of {self.info.frames} "
                                 "(truncated or corrupt)", index)


class AtomicVideoWriter:
    """Writes to a temporary file beside ``path``; ``commit`` renames it into
    place, ``abort`` (or an exception inside ``with``) removes it."""

    def __init__(self, path: Path, info: VideoInfo) -> None:
        ext = path.suffix.lower()
        if ext not in VIDEO_CODECS:
            raise UserError(f"output {path} has an unsupported video format '{ext}'; allowed: {' '.join(VIDEO_EXTS)}")
        if not path.parent.is_dir():
            raise UserError(f"output folder {path.parent} does not exist")
        self.path, self.tmp = path, temp_beside(path, ext)
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[ext])
        self.writer = cv2.VideoWriter(str(self.tmp), fourcc, info.fps, (info.width, info.height))
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise UserError(f"output {path}: OpenCV cannot write '{ext}' video here")

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB frame."""
        self.writer.write(np.ascontiguousarray(rgb[..., ::-1]))

    def commit(self) -> None:
        """Rename the finished video into place."""
        self.writer.release()
        replace_into_place(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial video; the destination is left as it was."""
        self.writer.release()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicVideoWriter":
        return self

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
