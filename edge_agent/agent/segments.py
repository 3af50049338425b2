"""A rolling store of enhanced video on disk with a size cap.

Each segment is written under a temporary name and renamed when complete, so
a reader (or a power cut) never sees half a segment as a finished one. When
the finished segments exceed ``max_total_mb``, the oldest are deleted.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np


class SegmentStore:
    """Rolling enhanced video on disk, capped in size (see the module docstring)."""
    def __init__(self, folder: Path, segment_s: float, max_total_mb: float, fps: float = 10.0) -> None:
        self.folder = folder
        self.segment_s = segment_s
        self.max_bytes = int(max_total_mb * 1e6)
        self.fps = fps
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.avi"):  # left by a crash: never a finished segment
            stale.unlink(missing_ok=True)
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._started = 0.0
        self._size: tuple[int, int] | None = None
        self.deleted = 0

    def write(self, rgb: np.ndarray, captured_at: float) -> None:
        """Add a frame; a new segment starts when the current one is long enough or the size changes."""
        size = (rgb.shape[1], rgb.shape[0])
        if self._writer is not None and (captured_at - self._started >= self.segment_s or size != self._size):
            self.close()
        if self._writer is None:
            self._open(captured_at, size)
        self._writer.write(np.ascontiguousarray(rgb[..., ::-1]))

    def _open(self, captured_at: float, size: tuple[int, int]) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(captured_at)) + f"_{int(captured_at * 1000) % 1000:03d}"
        self._final = self.folder / f"{stamp}.avi"
        self._tmp = self.folder / f".{stamp}.avi"
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, size)
        self._started, self._size = captured_at, size

    def close(self) -> None:
        """Finish the segment being written (rename it into place) and enforce the cap."""
        if self._writer is None:
            return
        self._writer.release()
        os.replace(self._tmp, self._final)
        self._writer = None
        self.enforce_cap()

    def finished(self) -> list[Path]:
        """Finished segments, oldest first (names are capture times)."""
        return sorted(p for p in self.folder.glob("*.avi") if not p.name.startswith("."))

    def enforce_cap(self) -> None:
        """Delete the oldest finished segments until the total fits."""
        segments = self.finished()
        total = sum(p.stat().st_size for p in segments)
        while segments and total > self.max_bytes:
            oldest = segments.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)
            self.deleted += 1
