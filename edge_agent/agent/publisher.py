"""What leaves the box over MQTT, last stop of a frame's path: per-frame
metadata, snapshots, health, the retained state (model, enhance switch, Home
Assistant discovery) and the update replies.

A box without a broker still runs: every method is then a no-op, so the
agent and the update controller never ask whether MQTT is there.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import cv2
import numpy as np

from ..config import AgentConfig
from ..fsutil import sha256_bytes
from ..mqtt.commands import command_id
from ..mqtt.discovery import discovery_messages
from ..mqtt.link import Incoming, MqttLink
from ..runtime.bundle import Bundle
from ..updates.protocol import need_message
from .camera import Frame


def frame_metadata(frame: Frame, out: np.ndarray, latency_ms: float, info: dict[str, Any]) -> dict[str, Any]:
    """The ``enhanced`` message: when, how fast, by which model, and the
    sha256 of input and output (so a stored frame can be tied to its record)."""
    return {"frame": frame.index, "captured_at": frame.captured_at, "published_at": time.time(),
            "latency_ms": round(latency_ms, 1), **info,
            "input_sha256": sha256_bytes(frame.rgb.tobytes()), "output_sha256": sha256_bytes(out.tobytes()),
            "shape": list(out.shape)}


class Publisher:
    """The agent's outbox (see the module docstring)."""

    def __init__(self, link: MqttLink | None, cfg: AgentConfig) -> None:
        self.link, self.cfg = link, cfg
        self.snapshot_requested = False
        self._last_snapshot = self._last_health = 0.0

    def frame(self, frame: Frame, out: np.ndarray, latency_ms: float, info: dict[str, Any]) -> None:
        """Metadata for every frame; a JPEG snapshot when asked for or due."""
        link, outputs = self.link, self.cfg.outputs
        if link is None:
            return
        if outputs.metadata:
            link.publish(link.topics.enhanced, frame_metadata(frame, out, latency_ms, info))
        interval = outputs.snapshot_interval_s
        if self.snapshot_requested or (interval > 0 and time.monotonic() - self._last_snapshot >= interval):
            ok, jpeg = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, outputs.snapshot_quality])
            if ok:
                link.publish(link.topics.snapshot, jpeg.tobytes())
            self.snapshot_requested, self._last_snapshot = False, time.monotonic()

    def health(self, report: Callable[[], dict[str, Any]]) -> None:
        """Publish ``report()`` when the health interval has passed (it is only
        computed then: reading the CPU meter starts its next window)."""
        now = time.monotonic()
        if self.link is not None and self.cfg.mqtt and now - self._last_health >= self.cfg.mqtt.health_interval_s:
            self._last_health = now
            self.link.publish(self.link.topics.health, report())

    def state(self, enhance_enabled: bool, bundle: Bundle) -> None:
        """Retained state, published on every (re)connect before `online` and after a model swap."""
        link = self.link
        if link is None or self.cfg.mqtt is None:
            return
        self.enhance_state(enhance_enabled)
        link.publish(link.topics.model, {"name": bundle.name, "version": bundle.version,
                                         "version_code": bundle.version_code}, qos=1, retain=True)
        if self.cfg.mqtt.home_assistant:
            for topic, config in discovery_messages(self.cfg.mqtt.discovery_prefix, link.topics,
                                                    bundle.version).items():
                link.publish(topic, config, qos=1, retain=True)

    def enhance_state(self, enabled: bool) -> None:
        """The retained enhancement switch state Home Assistant shows."""
        if self.link is not None:
            self.link.publish(self.link.topics.enhance_state, "ON" if enabled else "OFF", qos=1, retain=True)

    # -- update controller callbacks ------------------------------------------
    def update_reply(self, request: Incoming | None, body: dict[str, Any]) -> None:
        """A further reply to an `update` command (progress, outcome)."""
        if self.link is not None and request is not None:
            self.link.reply(request, {"id": command_id(request.payload), "command": "update", **body})

    def update_result(self, body: dict[str, Any]) -> None:
        """The retained outcome of the last update, for `edge-agent fleet status`."""
        if self.link is not None:
            self.link.publish(self.link.topics.update_result, {**body, "time": time.time()}, qos=1, retain=True)

    def need_chunks(self, transfer_id: str, missing: list[int]) -> None:
        """Ask the fleet manager again for the chunks that have not arrived."""
        if self.link is not None:
            self.link.publish(self.link.topics.need(transfer_id), need_message(missing), qos=1)

    def route_chunks(self, sink: Callable[[str, int, bytes], None] | None) -> None:
        """Send chunks arriving on paho's thread to a receiver (None: drop them)."""
        if self.link is not None:
            self.link.chunk_sink = sink
