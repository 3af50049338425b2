"""Log lines an installer can read: with a timestamp on a terminal or in a
file, without one under systemd (journald stamps every line itself; it
announces itself with ``JOURNAL_STREAM``), where each line instead starts
with its syslog priority (``<3>``, ``<4>``, ...) so ``journalctl -p warning``
filters by level."""
from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journald() -> bool:
    """stderr is connected to journald (systemd sets JOURNAL_STREAM to its device:inode)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(v) for v in stream.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>" + super().format(record)


def log_stream() -> TextIO:
    """Where log lines go: a private duplicate of stderr's file descriptor.
    Native warnings (libjpeg, FFmpeg) are silenced by pointing fd 2 at
    /dev/null for a moment (media.quiet_native_stderr, on the camera thread
    for every frame); lines other threads log meanwhile must not vanish with
    them. A stderr without a descriptor (captured by a test) is used as it is."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return sys.stderr
    return os.fdopen(fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace")


def setup_logging(level: str = "INFO", journal: bool | None = None) -> None:
    """One handler on stderr for the whole process (called once by the CLI)."""
    journal = under_journald() if journal is None else journal
    handler = logging.StreamHandler(log_stream())
    if journal:
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
                                               datefmt="%Y-%m-%dT%H:%M:%S"))
    handler.edge_agent = True  # type: ignore[attr-defined]  # ours: replaced by the next call, others kept
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "edge_agent", False)]:
        root.removeHandler(old)
        if old.stream not in (sys.stderr, sys.__stderr__):  # type: ignore[attr-defined]  # our duplicate
            old.stream.close()  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
