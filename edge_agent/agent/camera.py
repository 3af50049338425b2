"""Frame sources with a latest-frame policy, reconnection and a watchdog.

A reader thread pulls frames as fast as the camera delivers them and keeps
only the newest; the enhancement loop takes that one. When enhancement is
slower than the camera, latency stays bounded (one frame) and every frame
never taken is counted as dropped. A lost camera is reopened with
exponential backoff. A stream read can hang when the network drops, so a
watchdog abandons a reader that has been silent for ``watchdog_s`` and starts
a new one (the hung thread exits when its read returns).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..config import CameraConfig
from ..media import IMAGE_EXTS, quiet_native_stderr, read_image

STREAM_TIMEOUT_MS = 5000
FOLDER_FPS = 5.0


@dataclass(frozen=True)
class Frame:
    """One camera frame as the loop takes it: RGB, when it was read, its index in the stream."""

    rgb: np.ndarray
    captured_at: float  # wall-clock time.time() when read
    index: int


class _Capture:
    """One opened source: a cv2.VideoCapture or an image folder."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.folder = Path(source) if Path(source).is_dir() else None
        self.is_file = Path(source).is_file()
        self.paced = self.folder is not None or self.is_file  # files play at their own fps, like a camera
        if self.folder is not None:
            self.images = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
            self.position, self.fps = 0, FOLDER_FPS
            if not self.images:
                raise OSError(f"folder {source} holds no images")
            return
        with quiet_native_stderr():
            if source.isdigit() or source.startswith("/dev/video"):
                index = int(source) if source.isdigit() else int(source.removeprefix("/dev/video"))
                self.cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
            elif "://" in source:
                self.cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
            else:
                self.cap = cv2.VideoCapture(source)
        if not self.cap.isOpened():
            raise OSError(f"camera {source} cannot be opened")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 240 else 25.0

    def read(self) -> np.ndarray | None:
        if self.folder is not None:
            if self.position >= len(self.images):
                return None
            path = self.images[self.position]
            self.position += 1
            return read_image(path)
        with quiet_native_stderr():
            ok, bgr = self.cap.read()
        return np.ascontiguousarray(bgr[..., ::-1]) if ok else None

    def close(self) -> None:
        if self.folder is None:
            self.cap.release()


class LatestFrameCamera:
    """A camera behind a reader thread that keeps only the newest frame (see the module docstring)."""
    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Condition()
        self._latest: Frame | None = None
        self._generation = 0
        self._stopped = False
        self.state = "starting"  # connecting | streaming | reconnecting | ended | stopped
        self.frames_read = 0
        self.frames_taken = 0
        self.reconnects = 0
        self.watchdog_restarts = 0
        self.last_error: str | None = None
        self.last_frame_at = time.monotonic()
        self._fps_window: list[float] = []
        self._readers: list[threading.Thread] = []

    # -- consumer side ------------------------------------------------------
    def start(self) -> None:
        """Start reading; frames are taken with ``latest``."""
        self._spawn()

    def stop(self, join_timeout: float = 6.0) -> None:
        """Stop and wait for the readers: a thread left inside OpenCV's native
        read while the interpreter exits can abort the process."""
        with self._lock:
            self._stopped = True
            self.state = "stopped"
            self._lock.notify_all()
        deadline = time.monotonic() + join_timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))

    def latest(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._latest is None and not self._stopped and self.state != "ended":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            frame, self._latest = self._latest, None
            if frame is not None:
                self.frames_taken += 1
        self.check_watchdog()
        return frame

    @property
    def dropped(self) -> int:
        """Frames read but superseded before the loop took them (the price of bounded latency)."""
        return max(0, self.frames_read - self.frames_taken - (1 if self._latest is not None else 0))

    @property
    def fps(self) -> float:
        """The camera's delivered frame rate over the last 5 seconds."""
        window = [t for t in self._fps_window if t > time.monotonic() - 5.0]
        return (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0

    def check_watchdog(self) -> None:
        """Replace a reader that has been silent too long (a network read can hang forever)."""
        silent = time.monotonic() - self.last_frame_at
        if self.state == "streaming" and silent > self.cfg.watchdog_s:
            self.watchdog_restarts += 1
            self.last_error = f"camera silent for {silent:.0f} s; reader restarted"
            self.state = "reconnecting"
            self._spawn()

    @property
    def ended(self) -> bool:
        """A file or folder source reached its end (and does not loop)."""
        return self.state == "ended"

    # -- reader side --------------------------------------------------------
    def _spawn(self) -> None:
        with self._lock:
            self._generation += 1
            generation = self._generation
        reader = threading.Thread(target=self._reader, args=(generation,), name=f"camera-{generation}", daemon=True)
        self._readers = [t for t in self._readers if t.is_alive()] + [reader]
        reader.start()

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stopped

    def _reader(self, generation: int) -> None:
        backoff = self.cfg.reconnect_initial_s
        looped = False
        while self._current(generation):
            if not looped:  # a file starting over is not a camera reconnecting
                self.state = "connecting" if self.frames_read == 0 else "reconnecting"
            try:
                capture = _Capture(self.cfg.source)
            except OSError as exc:
                self.last_error = str(exc)
                self._sleep(backoff, generation)
                backoff = min(backoff * 2, self.cfg.reconnect_max_s)
                self.reconnects += 1
                continue
            backoff = self.cfg.reconnect_initial_s
            try:
                ended = self._pump(capture, generation)
            finally:
                capture.close()
            if ended and not self.cfg.loop:
                with self._lock:
                    self.state = "ended"
                    self._lock.notify_all()
                return
            looped = ended
            if not ended:
                self.last_error = f"camera {self.cfg.source} stopped delivering frames"
                self.reconnects += 1
                self._sleep(backoff, generation)

    def _pump(self, capture: _Capture, generation: int) -> bool:
        """Read until the source fails (False) or a file/folder ends (True)."""
        next_due = time.monotonic()
        for rgb in self._frames(capture):
            if not self._current(generation):
                return False
            if capture.paced:  # a file plays in real time, like the camera it stands in for
                next_due += 1.0 / capture.fps
                time.sleep(max(0.0, next_due - time.monotonic()))
            now = time.monotonic()
            with self._lock:
                self._latest = Frame(rgb, time.time(), self.frames_read)
                self.frames_read += 1
                self.last_frame_at = now
                self.state = "streaming"
                self._fps_window = [t for t in self._fps_window[-50:] if t > now - 5.0] + [now]
                self._lock.notify_all()
        return capture.paced

    @staticmethod
    def _frames(capture: _Capture) -> Iterator[np.ndarray]:
        while True:
            rgb = capture.read()
            if rgb is None:
                return
            yield rgb

    def _sleep(self, seconds: float, generation: int) -> None:
        end = time.monotonic() + seconds
        while self._current(generation) and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))
