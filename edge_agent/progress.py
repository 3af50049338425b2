"""Progress on stderr: tqdm's bar on a terminal; in a log file or the journal
(no terminal) a plain line every 30 s, since a bar redrawn with carriage
returns is unreadable there. Training, evaluation and ``edge-agent enhance``
share it."""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")
LOG_INTERVAL_S = 30.0


def _tqdm(total: int | None, label: str, stream: TextIO, initial: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # a box installed without it still shows the plain lines
        return None
    return tqdm(total=total, desc=label, file=stream, initial=initial, unit="it", dynamic_ncols=True,
                mininterval=0.2, leave=True)


class Progress:
    """A counter: tqdm on a terminal, a line every ``LOG_INTERVAL_S`` elsewhere."""

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None, enabled: bool = True,
                 initial: int = 0) -> None:
        self.total, self.label, self.count, self.initial = total, label, initial, initial
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.start = self._last = time.monotonic()
        self.postfix = ""
        self._bar = _tqdm(total, label, self.stream, initial) if enabled and self.tty else None

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """Count ``n`` more items and redraw when due."""
        self.count += n
        if postfix is not None:
            self.postfix = postfix
        if self._bar is not None:
            if postfix is not None:
                self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(n)
            return
        now = time.monotonic()
        interval = 0.2 if self.tty else LOG_INTERVAL_S
        if self.enabled and (now - self._last >= interval or self.count == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = (self.count - self.initial) / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            text = f"{self.label} {self.count}/{self.total} {rate:.2f}/s eta {eta:.0f}s {self.postfix}"
        else:
            text = f"{self.label} {self.count} {rate:.2f}/s {self.postfix}"
        self.stream.write(("\r" + text + "\x1b[K") if self.tty else text.rstrip() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar (or the terminal line)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.tty:
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
