"""Health figures: latency percentiles, rates and what the OS can tell, and
the report the agent publishes on ``health`` (whose keys Home Assistant's
sensors read: see mqtt/discovery.py), and the event lines of the service
log (``EventLog``)."""
from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

if TYPE_CHECKING:
    from .loop import Agent

log = logging.getLogger("edge_agent")


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
    """This process's CPU use in percent of one core since the last reading (psutil)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # starts the first window

    def read(self) -> float:
        """Percent since the previous call (so read it only when reporting)."""
        return round(self._process.cpu_percent(None), 1)


def rss_mb() -> float | None:
    """Resident memory in MiB."""
    try:
        return round(psutil.Process().memory_info().rss / (1 << 20), 1)
    except psutil.Error:
        return None


def temperature_c() -> float | None:
    """The hottest sensor the kernel exposes (psutil reads /sys/class/hwmon and thermal zones); None without."""
    try:
        readings = getattr(psutil, "sensors_temperatures", lambda: {})()
    except (OSError, RuntimeError):
        return None
    temps = [t.current for entries in readings.values() for t in entries if t.current is not None]
    return round(max(temps), 1) if temps else None


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
            "precision": d["precision"], "steps": d["steps"], "samples_averaged": d["average"], "mirrored_views": d["mirror"],
            "tone_anchor_px": d["tone_anchor"],
            "model": d["model"], "model_version": d["model_version"], "cpu_percent": agent.cpu.read(),
            "memory_mb": rss_mb(), "temperature_c": temperature_c(), "load_1m": load_average(),
            "camera_reconnects": camera.reconnects, "camera_watchdog_restarts": camera.watchdog_restarts,
            "mqtt_reconnects": agent.mqtt.reconnects if agent.mqtt else 0,
            "segments_deleted": agent.segments.deleted if agent.segments else 0,
            "last_error": agent.last_error or camera.last_error}


def redact(source: str) -> str:
    """A camera URL without its password (``rtsp://user:pw@host`` -> ``rtsp://user:***@host``), for logs."""
    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", source)


BROKER_GRACE_S = 10.0  # a broker not reached this long after start is worth a line


class EventLog:
    """INFO lines an installer reads in ``journalctl``: the model in use, the
    camera connecting, lost (with the reason) and recovered, and once a
    minute the throughput. Driven by the loop's ``tick``, it only watches
    state the agent already keeps."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self._model: tuple | None = None
        self._camera: str | None = None
        self._lost_at: float | None = None
        self._error: str | None = None
        self._mark = (time.monotonic(), 0, 0)  # (time, processed, dropped) at the last throughput line
        self._broker_down: float | None = None
        self._broker_warned = False

    def tick(self, agent: "Agent") -> None:
        """Log what changed since the last call."""
        self._log_model(agent)
        self._log_camera(agent)
        now = time.monotonic()
        self._log_broker(agent, now)
        if now - self._mark[0] >= self.interval_s:
            self._log_throughput(agent, now)

    def _log_model(self, agent: "Agent") -> None:
        d = agent.enhancer.describe()
        key = (d["model"], d["model_version"], d["backend"], d["device"], d["precision"], d["steps"])
        if key != self._model:
            log.info("model %s %s loaded on %s %s (%s, %s steps)", *key)
            self._model = key

    def _log_camera(self, agent: "Agent") -> None:
        camera = agent.camera
        state, source = camera.state, redact(str(agent.cfg.camera.source))
        error = redact(camera.last_error) if camera.last_error else None
        if state == self._camera and error == self._error:
            return
        if state == "streaming" and self._camera != "streaming":
            if self._lost_at is None:
                log.info("camera %s connected (%.1f fps)", source, camera.fps)
            else:
                log.info("camera %s recovered after %.0f s", source, time.monotonic() - self._lost_at)
            self._lost_at = None
        elif state in ("connecting", "reconnecting") and error and error != self._error:
            if self._lost_at is None:
                self._lost_at = time.monotonic()
            log.warning("camera %s %s: %s; retrying", source,
                        "unreachable" if state == "connecting" else "lost", error)
        elif state == "ended" and self._camera != "ended":
            log.info("camera %s: the file source ended", source)
        self._camera, self._error = state, error

    def _log_broker(self, agent: "Agent", now: float) -> None:
        """Connect, loss and recovery are logged by mqtt/link.py as they happen;
        a broker never reached says nothing there, so it is said here."""
        link = agent.mqtt
        if link is None or link.connected.is_set():
            self._broker_down, self._broker_warned = None, False
            return
        if self._broker_down is None:
            self._broker_down = now
        elif now - self._broker_down >= BROKER_GRACE_S and not self._broker_warned:
            log.warning("MQTT broker %s:%s not reachable for %.0f s (%s); still retrying", link.cfg.host,
                        link.cfg.port, now - self._broker_down, link.last_error or "no answer")
            self._broker_warned = True

    def _log_throughput(self, agent: "Agent", now: float) -> None:
        t0, processed0, dropped0 = self._mark
        processed, dropped = agent.stats.processed, agent.camera.dropped
        frames = processed - processed0
        log.info("last %.0f s: %d frames enhanced (%.2f fps), %d dropped, latency p50 %s ms p95 %s ms, camera %s",
                 now - t0, frames, frames / (now - t0), dropped - dropped0, agent.stats.percentile(50),
                 agent.stats.percentile(95), agent.camera.state)
        self._mark = (now, processed, dropped)
