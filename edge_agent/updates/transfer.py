"""Getting an offered archive onto the box: by URL, or as MQTT chunks.

Chunks are written to disk as they arrive (on paho's thread: no queue grows
in memory), one file each in staging, so a restarted transfer resumes with
what is already there. A chunk is kept only with its index in range and its
exact size (the signed archive size fixes both), so a flood of chunks or
oversized ones never fills the disk. A URL download stops at the signed size,
at its deadline, and when it is slower than the minimum rate.
"""
from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import CommandError
from ..fsutil import atomic_write_bytes
from .protocol import CHUNK_BYTES

MIN_RATE_GRACE_S = 10.0  # the minimum rate is judged after this long


class ChunkReceiver:
    """Collects chunks of one transfer on disk, so a restart resumes."""

    def __init__(self, folder: Path, count: int, size: int) -> None:
        self.folder, self.count, self.size = folder, count, size
        folder.mkdir(parents=True, exist_ok=True)
        self.arrived = threading.Condition()
        self.refused = 0  # chunks out of range or of the wrong size

    def expected_len(self, index: int) -> int:
        """The exact size of chunk ``index`` of this archive."""
        return min(CHUNK_BYTES, self.size - index * CHUNK_BYTES)

    def put(self, index: int, data: bytes) -> None:
        """Store one chunk (called on paho's network thread) and wake the waiter."""
        if not 0 <= index < self.count or len(data) != self.expected_len(index):
            self.refused += 1
            return
        try:
            atomic_write_bytes(self.folder / f"{index}.chunk", data, durable=False)
        except OSError:  # staging removed: the transfer is over
            return
        with self.arrived:
            self.arrived.notify_all()

    def missing(self) -> list[int]:
        """The chunk indices not on disk yet."""
        return [i for i in range(self.count) if not (self.folder / f"{i}.chunk").exists()]

    def assemble(self, out: Path) -> None:
        """Concatenate the chunks, in order, into the archive."""
        with open(out, "wb") as f:
            for i in range(self.count):
                f.write((self.folder / f"{i}.chunk").read_bytes())


def fetch_url(url: str, out: Path, size: int, schemes: tuple[str, ...], deadline_s: float = 600.0,
              min_rate_bps: float = 10_000.0, stop: threading.Event | None = None) -> None:
    """Download ``url`` to ``out``: allowed schemes only, at most ``size``
    bytes, within ``deadline_s``, never slower than ``min_rate_bps`` after a grace period."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in schemes:
        raise CommandError(f"update URL scheme '{scheme}' is not allowed; allowed: {', '.join(schemes)}")
    t0 = time.monotonic()
    got = 0
    timeout = max(1.0, min(30.0, deadline_s))
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out, "wb") as f:  # noqa: S310 (scheme checked)
        read = getattr(response, "read1", response.read)  # what has arrived: a trickle is judged as it comes
        while block := read(1 << 16):
            got += len(block)
            if got > size:
                raise CommandError(f"update download is larger than the signed size of {size} bytes")
            f.write(block)
            elapsed = time.monotonic() - t0
            if elapsed > deadline_s:
                raise CommandError(f"update download passed its deadline of {deadline_s:.0f} s")
            if elapsed > MIN_RATE_GRACE_S and got / elapsed < min_rate_bps:
                raise CommandError(f"update download is slower than {min_rate_bps:.0f} B/s")
            if stop is not None and stop.is_set():
                raise CommandError("update download cancelled")
