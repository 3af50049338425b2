"""Health figures: latency percentiles, rates and what the OS can tell, and
the report the agent publishes on ``health`` (whose keys Home Assistant's
sensors read: see mqtt/discovery.py)."""
from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .loop import Agent


class RollingStats:
    """Latency percentiles and frame rate over the last ``window`` frames."""

    def __init__(self, window: int = 200) -> None:
        self.latencies: deque[float] = deque(maxlen=window)
        self.times: deque[float] = deque(maxlen=window)
        self.processed = 0

    def add(self, latency_ms: float) -> None:
        """One processed frame and its latency."""
        self.latencies.append(latency_ms)
        self.times.append(time.monotonic())
        self.processed += 1

    def percentile(self, q: float) -> float | None:
        """Latency percentile over the window, None before the first frame."""
        return round(float(np.percentile(self.latencies, q)), 1) if self.latencies else None

    def fps(self) -> float:
        """Processed frames per second over the window."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return round((len(self.times) - 1) / (self.times[-1] - self.times[0]), 2)


class CpuMeter:
    """This process's CPU use in percent of one core since the last reading."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), time.process_time())

    def read(self) -> float:
        """Percent since the previous call (so read it only when reporting)."""
        now = (time.monotonic(), time.process_time())
        wall, cpu = now[0] - self._last[0], now[1] - self._last[1]
        self._last = now
        return round(100.0 * cpu / wall, 1) if wall > 0 else 0.0


def rss_mb() -> float | None:
    """Resident memory from /proc (Linux); None elsewhere."""
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
    """The 1-minute load: on a shared box, why latency rose."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def health_report(agent: "Agent") -> dict[str, Any]:
    """The ``health`` message: camera, throughput, latency, model, machine."""
    d = agent.enhancer.describe()
    camera, stats = agent.camera, agent.stats
    return {"device_id": agent.device, "time": time.time(), "uptime_s": round(time.monotonic() - agent.started, 1),
            "camera_state": camera.state, "camera_fps": round(camera.fps, 2),
            "processed_fps": stats.fps(), "processed_frames": stats.processed,
            "dropped_frames": camera.dropped, "latency_p50_ms": stats.percentile(50),
            "latency_p95_ms": stats.percentile(95), "enhancement": agent.enhance_enabled,
            "temporal_filter": agent.stream.filter is not None, "backend": d["backend"], "device": d["device"],
            "precision": d["precision"], "steps": d["steps"],
            "model": d["model"], "model_version": d["model_version"], "cpu_percent": agent.cpu.read(),
            "memory_mb": rss_mb(), "temperature_c": temperature_c(), "load_1m": load_average(),
            "camera_reconnects": camera.reconnects, "camera_watchdog_restarts": camera.watchdog_restarts,
            "mqtt_reconnects": agent.mqtt.reconnects if agent.mqtt else 0,
            "segments_deleted": agent.segments.deleted if agent.segments else 0,
            "last_error": agent.last_error or camera.last_error}
