"""Health figures: latency percentiles, rates and what the OS can tell."""
from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

import numpy as np


class RollingStats:
    """Latency percentiles and frame rate over the last ``window`` frames."""

    def __init__(self, window: int = 200) -> None:
        self.latencies: deque[float] = deque(maxlen=window)
        self.times: deque[float] = deque(maxlen=window)
        self.processed = 0

    def add(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)
        self.times.append(time.monotonic())
        self.processed += 1

    def percentile(self, q: float) -> float | None:
        return round(float(np.percentile(self.latencies, q)), 1) if self.latencies else None

    def fps(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return round((len(self.times) - 1) / (self.times[-1] - self.times[0]), 2)


class CpuMeter:
    """This process's CPU use in percent of one core since the last reading."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), time.process_time())

    def read(self) -> float:
        now = (time.monotonic(), time.process_time())
        wall, cpu = now[0] - self._last[0], now[1] - self._last[1]
        self._last = now
        return round(100.0 * cpu / wall, 1) if wall > 0 else 0.0


def rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def temperature_c() -> float | None:
    """The hottest thermal zone, where the kernel exposes one."""
    temps = []
    for zone in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        try:
            temps.append(int(zone.read_text()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
