"""Getting an offered archive onto the box: by URL, or as MQTT chunks.

Chunks are written to disk as they arrive (on paho's thread: no queue grows
in memory), one file each in staging, so a restarted transfer resumes with
what is already there. Both ways stop at the size limit of the protocol.
"""
from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import CommandError
from ..fsutil import atomic_write_bytes
from .protocol import MAX_ARCHIVE_BYTES

URL_SCHEMES = ("http", "https", "file")


class ChunkReceiver:
    """Collects chunks of one transfer on disk, so a restart resumes."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder, self.count = folder, count
        folder.mkdir(parents=True, exist_ok=True)
        self.arrived = threading.Condition()

    def put(self, index: int, data: bytes) -> None:
        """Store one chunk (called on paho's network thread) and wake the waiter."""
        if not 0 <= index < self.count:
            return
        atomic_write_bytes(self.folder / f"{index}.chunk", data, durable=False)
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


def fetch_url(url: str, out: Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``out``, refusing other schemes and oversized archives."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in URL_SCHEMES:
        raise CommandError(f"update URL scheme '{scheme}' is not allowed; allowed: {', '.join(URL_SCHEMES)}")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out, "wb") as f:  # noqa: S310 (scheme checked)
        remaining = MAX_ARCHIVE_BYTES + 1
        while chunk := response.read(1 << 16):
            remaining -= len(chunk)
            if remaining < 0:
                raise CommandError("update download is larger than allowed")
            f.write(chunk)
