"""File helpers every room shares: content hashes and writes that never leave
half a file behind.

A box loses power at any moment, and a reader (another process, a fleet
manager, a court) must never take a half-written output or model for a
finished one. So every output is written under a temporary name in the
destination folder (same filesystem, so the rename is atomic) and renamed
into place only when complete; a crash leaves the old file or the new one,
never a mix.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

OUTPUT_MODE = 0o644  # mkstemp makes 0600; outputs are ordinary files others may read


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces (bundles hold large weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes in memory (frames, manifests)."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place.
    ``durable`` also fsyncs the data first, so after a power cut the renamed
    file is complete; transient files (transfer chunks) may skip it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, OUTPUT_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_beside(path: Path, suffix: str) -> Path:
    """A new, empty temporary file in ``path``'s folder, for writers (video
    encoders) that need a file name rather than bytes; finish with
    ``replace_into_place`` or unlink it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    return Path(tmp)


def replace_into_place(tmp: Path, path: Path) -> None:
    """Publish a finished temporary file under its final name."""
    os.chmod(tmp, OUTPUT_MODE)
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (a rename is only on disk once its
    directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
