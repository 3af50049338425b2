"""A dependency-free progress bar on stderr (a terminal gets one updating
line; a log file gets a line every few percent)."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """A counter that redraws itself at most every 0.2 s (terminal) or 30 s (log)."""
    def __init__(self, total: int | None, label: str, stream: TextIO | None = None, enabled: bool = True,
                 initial: int = 0) -> None:
        self.total, self.label, self.count, self.initial = total, label, initial, initial
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.start = self._last = time.monotonic()
        self.postfix = ""

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """Count ``n`` more items and redraw when due."""
        self.count += n
        if postfix is not None:
            self.postfix = postfix
        now = time.monotonic()
        interval = 0.2 if self.tty else 30.0
        if self.enabled and (now - self._last >= interval or self.count == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = (self.count - self.initial) / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, self.count / self.total)
            bar = "#" * int(frac * 24)
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            text = f"{self.label} [{bar:<24}] {self.count}/{self.total} {rate:.2f}/s eta {eta:.0f}s {self.postfix}"
        else:
            text = f"{self.label} {self.count} {rate:.2f}/s {self.postfix}"
        self.stream.write(("\r" + text + "\x1b[K") if self.tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the terminal line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def track(items: Iterable[T], total: int | None, label: str, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` with a progress bar (closed however the loop ends)."""
    bar = Progress(total, label, enabled=enabled)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
