"""What leaves the box over MQTT, last stop of a frame's path: per-frame
metadata, snapshots, health, the retained state (model, enhance switch, steps,
Home Assistant discovery, the enhanced picture for Home Assistant's image
entity, at most every ``IMAGE_INTERVAL_S``) and the update replies.

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
from ..mqtt.discovery import discovery_messages, update_state
from ..mqtt.link import Incoming, MqttLink
from ..runtime.bundle import Bundle
from ..updates.protocol import FINAL_STAGES, STAGES, need_message
from .camera import Frame

IMAGE_INTERVAL_S = 10.0  # the retained picture Home Assistant shows: fresh enough, not a video stream over MQTT


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
        self._last_image = -IMAGE_INTERVAL_S
        self._steps: int | None = None  # the steps last published on steps/state
        self._installed = ""  # the model version the update entity shows
        self._staged: dict[str, Any] | None = None  # the update waiting for an install command (its latest version)

    def frame(self, frame: Frame, out: np.ndarray, latency_ms: float, info: dict[str, Any]) -> None:
        """Metadata for every frame; a JPEG snapshot when asked for or due."""
        link, outputs = self.link, self.cfg.outputs
        if link is None:
            return
        if outputs.metadata:
            link.publish(link.topics.enhanced, frame_metadata(frame, out, latency_ms, info))
        interval, now = outputs.snapshot_interval_s, time.monotonic()
        due = self.snapshot_requested or (interval > 0 and now - self._last_snapshot >= interval)
        image_due = self.cfg.mqtt is not None and self.cfg.mqtt.home_assistant and \
            now - self._last_image >= max(IMAGE_INTERVAL_S, interval)
        if due or image_due:
            ok, jpeg = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, outputs.snapshot_quality])
            if ok and due:
                link.publish(link.topics.snapshot, jpeg.tobytes())
            if ok and image_due:
                link.publish(link.topics.image, jpeg.tobytes(), qos=0, retain=True)
                self._last_image = now
            if due:
                self.snapshot_requested, self._last_snapshot = False, now
        self.steps_state(info.get("steps"))

    def steps_state(self, steps: int | None) -> None:
        """The retained ``steps/state`` (Home Assistant's number), when it changed."""
        if self.link is not None and steps is not None and steps != self._steps:
            self.link.publish(self.link.topics.state("steps"), str(steps), qos=1, retain=True)
            self._steps = steps

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
        self._installed = bundle.version
        self._publish_update_state()
        self._steps = None  # published again with the next frame
        if self.cfg.mqtt.home_assistant:
            for topic, config in discovery_messages(self.cfg.mqtt.discovery_prefix, link.topics,
                                                    bundle.version, sorted(bundle.sampler.steps)).items():
                link.publish(topic, config, qos=1, retain=True)

    def enhance_state(self, enabled: bool) -> None:
        """The retained enhancement switch state Home Assistant shows."""
        if self.link is not None:
            payload = "ON" if enabled else "OFF"
            self.link.publish(self.link.topics.state("enhance"), payload, qos=1, retain=True)
            self.link.publish(self.link.topics.enhance_state, payload, qos=1, retain=True)  # the older topic

    # -- update controller callbacks ------------------------------------------
    def update_reply(self, request: Incoming | None, body: dict[str, Any]) -> None:
        """A further reply to an `update` or `install_update` command (progress, outcome)."""
        if self.link is not None and request is not None:
            self.link.reply(request, {"id": command_id(request.payload), "command": request.name, **body})
        self._update_progress(body)

    def update_staged(self, info: dict[str, Any] | None) -> None:
        """The update kept for an install command (None: none): the entity's latest version."""
        self._staged = info

    def _update_progress(self, body: dict[str, Any]) -> None:
        """Home Assistant's update entity follows a running update: in progress,
        with a percentage, until a final stage; the stage (or the refusal) as
        its release summary; a staged update stays its latest version."""
        stage = str(body.get("stage", ""))
        done = body.get("ok") is False or stage in (*FINAL_STAGES, "marked good")
        note = f"{stage}: {body.get('error', '')}".rstrip(": ")
        if done:
            self._publish_update_state(note if body.get("ok") is False or not self._staged else None)
        else:
            percent = 100.0 * (STAGES.index(stage) + 1) / (len(STAGES) + 1) if stage in STAGES else None
            self._publish_update_state(note, in_progress=True, percentage=percent, latest=body.get("version"))

    def _publish_update_state(self, summary: str | None = None, in_progress: bool = False,
                              percentage: float | None = None, latest: str | None = None) -> None:
        """The update entity's retained state: installed, and the staged (or arriving) version as the latest."""
        if self.link is None or not self._installed:
            return
        staged = self._staged or {}
        self.link.publish(self.link.topics.model_update, update_state(
            self._installed, staged.get("version") or latest, in_progress, percentage,
            summary or staged.get("summary")), qos=1, retain=True)

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
