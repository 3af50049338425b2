"""The on-camera agent: camera -> enhancement -> outputs, health and commands.

One loop thread owns the enhancer, the outputs and every state change;
MQTT callbacks only enqueue commands, which the loop executes between
frames. So no lock guards the model, and a command takes effect exactly
between two frames. Model updates run off the loop (updates/controller.py)
and are swapped in by it, between two frames.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..config import AgentConfig, ModelConfig, load_config
from ..mqtt.commands import CommandAuth, CommandRouter, load_command_keys
from ..mqtt.topics import FLEET
from ..mqtt.link import MqttLink
from ..paths import default_cache_dir, default_model_path, under_state
from ..runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from ..updates.controller import UpdateController, UpdateHooks
from ..updates.store import ModelStore
from .camera import Frame, LatestFrameCamera
from .handlers import COMMANDS, EXIT_RESTART, bind
from .health import CpuMeter, EventLog, RollingStats, health_report
from .publisher import Publisher
from .segments import SegmentStore
from .systemd import ServiceNotifier

log = logging.getLogger("edge_agent")
# OpenVINO's telemetry (imported by its model converter) writes ~/intel and is known to hang the exit:
# the agent never sends it, so the converter falls back to its built-in stub.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
STREAM_GAP_S = 2.0  # frames further apart than this (and than 3 usual intervals) do not continue the temporal filter


def device_id(cfg: AgentConfig) -> str:
    """This box's id in topics: configured, else the short host name."""
    return cfg.mqtt.device_id if cfg.mqtt and cfg.mqtt.device_id else socket.gethostname().split(".")[0]


def enhance_settings(m: ModelConfig) -> EnhanceSettings:
    """The runtime's settings from the config's model section."""
    return EnhanceSettings(backend=m.backend, device=m.device, precision=m.precision, steps=m.steps, seed=m.seed,
                           average=m.average, threads=m.threads, cache_dir=Path(m.cache_dir) if m.cache_dir else default_cache_dir())


def make_router(cfg: AgentConfig, handlers: dict[str, Any], device: str, state_dir: Path) -> CommandRouter:
    """The command router with this box's limits, remembered ids and, when
    command keys are configured, signatures required for state changes."""
    m = cfg.mqtt
    auth = None
    targets = {device, FLEET, *m.groups} if m is not None else None
    if m is not None and m.command_keys:
        # `update` carries its own proof: metadata signed by the update role (updates/checks.py)
        auth = CommandAuth(load_command_keys(m.command_keys), set(targets), {*m.open_commands, "update"})
    elif m is not None:
        log.warning("no mqtt.command_keys: any client that can publish to this box's topics can change its state")
    return CommandRouter(handlers, max_age_s=m.command_max_age_s if m else 60.0, clock_skew_s=m.clock_skew_s if m else 300.0,
                         auth=auth, targets=targets, seen_path=state_dir / "commands_seen.json")


class Agent:
    """Owns the frame loop and the state it changes: the model in use, the
    stream's temporal filter, the enhance switch and the counters."""

    def __init__(self, cfg: AgentConfig, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.device = device_id(cfg)
        state_dir = cfg.resolved_state_dir()
        self.store = ModelStore(state_dir)
        # a model installed by a fleet update wins over the configured/packaged one
        self.bundle = self.store.boot_bundle(Path(cfg.model.bundle) if cfg.model.bundle else default_model_path())
        self.settings = enhance_settings(cfg.model)
        self.enhancer = Enhancer(self.bundle, self.settings)
        check = getattr(self.enhancer.backend, "check_device", None)
        if check is not None and cfg.model.device:  # at start, one clear error: not a traceback per frame
            check(cfg.model.device)
        self.stream = StreamEnhancer(self.enhancer, cfg.model.temporal)
        self._stream_mark: tuple[float, float, int] | None = None  # (monotonic time, interval, camera reconnects)
        self.camera = LatestFrameCamera(cfg.camera)
        self.enhance_enabled = cfg.enhance
        self.stats = RollingStats()
        self.cpu = CpuMeter()
        self.events = EventLog()  # journal lines: model, camera connect/loss/recovery, throughput
        self.started = time.monotonic()
        self.last_error: str | None = None
        self.exit_code: int | None = None
        seg = cfg.outputs.segments
        self.segments = (SegmentStore(under_state(state_dir, seg.directory), seg.segment_s, seg.max_total_mb)
                         if seg.enabled else None)
        self.mqtt = MqttLink(cfg.mqtt, self.device, self.publish_state) if cfg.mqtt else None
        self.publisher = Publisher(self.mqtt, cfg)
        self.service = ServiceNotifier()
        self.router = make_router(cfg, bind(self), self.device, state_dir)
        self.updates = UpdateController(cfg.updates, self.store, self.settings, UpdateHooks(
            running=lambda: self.enhancer, use=self.use_enhancer, announce=self.publish_state,
            reply=self.publisher.update_reply, publish_result=self.publisher.update_result,
            request_chunks=self.publisher.need_chunks, route_chunks=self.publisher.route_chunks,
            healthy=self._healthy_for_trial, staged=self.publisher.update_staged), targets={self.device, FLEET, *(cfg.mqtt.groups if cfg.mqtt else [])},
            clock_skew_s=cfg.mqtt.clock_skew_s if cfg.mqtt else 300.0)

    # -- the loop -------------------------------------------------------------
    def _stop_on_signal(self, signum: int, _frame: object) -> None:
        self.exit_code = 0  # SIGTERM from systemd: finish the frame, publish `stopped`, exit cleanly

    def run(self, max_frames: int | None = None) -> int:
        """Enhance frames until stopped (signal, command, end of a file source, ``max_frames``)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._stop_on_signal)
            signal.signal(signal.SIGINT, self._stop_on_signal)
        self.camera.start()
        if self.mqtt:
            self.mqtt.start()
        self.service.waiting(self.cfg.camera.source)
        try:
            while self.exit_code is None:
                self._respect_fps_limit()
                frame = self.camera.latest(timeout=0.5)
                if frame is not None:
                    self.process(frame)
                elif self.camera.ended:
                    self.exit_code = 0
                self._between_frames()
                if max_frames is not None and self.stats.processed >= max_frames:
                    self.exit_code = 0
        finally:
            self.shutdown()
        return self.exit_code

    def _between_frames(self) -> None:
        """Commands, then periodic work; whatever fails here is reported, never stops the loop."""
        for step in (self.run_commands, self.periodic):
            try:
                step()
            except Exception as exc:
                self.last_error = f"{step.__name__} failed: {exc.__class__.__name__}: {exc}"[:300]
                log.exception("%s failed", step.__name__)

    def _respect_fps_limit(self) -> None:
        limit = self.cfg.camera.fps_limit
        if limit > 0 and self.stats.times:
            wait = self.stats.times[-1] + 1.0 / limit - time.monotonic()
            if wait > 0:  # frames arriving meanwhile are superseded (latest-frame policy) and counted as dropped
                time.sleep(min(wait, 0.5))

    def process(self, frame: Frame) -> None:
        """One frame down the path: enhance, then disk and MQTT."""
        t0 = time.perf_counter()
        try:
            self._continue_or_reset_stream()
            out = self.stream(frame.rgb) if self.enhance_enabled else frame.rgb
        except Exception as exc:  # a bad frame must not stop the camera; it is reported in health
            self.last_error = f"enhancement failed: {exc}"
            log.exception("enhancement failed")
            self.updates.frame_done(ok=False)
            return
        self.updates.frame_done(ok=float(out.std()) > 0.5)  # a constant frame means a broken network
        latency_ms = (time.perf_counter() - t0) * 1e3
        self.stats.add(latency_ms)
        self.service.frame_done()
        if self.segments:
            self.segments.write(out, frame.captured_at)
        self.publisher.frame(frame, out, latency_ms, {"enhanced": self.enhance_enabled, "model": self.bundle.name,
                                                      "model_version": self.bundle.version,
                                                      "steps": self.enhancer.steps})

    def _continue_or_reset_stream(self) -> None:
        """A camera reconnect or a stall breaks the stream: the previous output
        is no longer this scene. Slow boxes (seconds per frame) keep filtering:
        the gap is judged against the usual interval."""
        now, reconnects = time.monotonic(), self.camera.reconnects
        if self._stream_mark is not None:
            last, interval, last_reconnects = self._stream_mark
            gap = now - last
            if reconnects != last_reconnects or gap > max(STREAM_GAP_S, 3 * interval):
                self.stream.reset()  # a broken stream's gap is not a usual interval
            else:
                interval = gap if interval == 0.0 else 0.8 * interval + 0.2 * gap
        else:
            interval = 0.0
        self._stream_mark = (now, interval, reconnects)

    def periodic(self) -> None:
        """Between frames: health when due, systemd's watchdog."""
        link_ok = self.mqtt.check() if self.mqtt else True  # restarts a dead network thread
        self.publisher.health(self.health)
        self.events.tick(self)
        self.service.tick(time.monotonic(), self.camera.state, link_ok)

    def run_commands(self) -> None:
        """Run the queued commands, then swap in a finished update."""
        if not self.mqtt:
            return
        while True:
            try:
                incoming = self.mqtt.commands.get_nowait()
            except queue.Empty:
                break
            if incoming.too_large is not None:
                reply = {"id": None, "command": incoming.name, "ok": False,
                         "error": f"payload of {incoming.too_large} bytes is over the limit"}
            else:
                self.updates.request = incoming  # an accepted update's replies go to this request
                reply = self.router.handle(incoming.name, incoming.payload, retained=incoming.retained)
            self.mqtt.reply(incoming, reply)
        self.updates.poll()

    def _healthy_for_trial(self) -> bool:
        """The health check a model on trial must pass to be marked good: the
        MQTT link is up (its reply reaches the fleet) and frames are flowing."""
        return (self.mqtt is None or self.mqtt.healthy()) and self.stats.processed > 0

    def publish_state(self) -> None:
        """Retained state, published on every (re)connect before `online`."""
        self.publisher.state(self.enhance_enabled, self.bundle)

    def health(self) -> dict[str, Any]:
        """The current health report (also the `health` command's reply)."""
        return health_report(self)

    def use_enhancer(self, enhancer: Enhancer) -> None:
        """Switch models; the new stream starts without the old model's history."""
        self.bundle, self.enhancer = enhancer.bundle, enhancer
        self.stream = StreamEnhancer(enhancer, self.cfg.model.temporal)

    # -- the update controller's state, as the loop sees it -----------------
    @property
    def update_result(self) -> tuple[Path | None, Enhancer | None, str | None] | None:
        """A finished update waiting for the loop (kept on the update controller)."""
        return self.updates.result

    @update_result.setter
    def update_result(self, value: tuple[Path | None, Enhancer | None, str | None] | None) -> None:
        self.updates.result = value

    def apply_update(self) -> None:
        """Swap in a finished update now (the loop does this between frames)."""
        self.updates.apply()

    def __getattr__(self, name: str) -> Any:
        """``agent.cmd_<name>(args)`` runs a registered command directly (tests, scripts)."""
        if name.startswith("cmd_") and name[4:] in COMMANDS:
            return lambda args: COMMANDS[name[4:]](self, args)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def shutdown(self) -> None:
        """Stop cleanly: close the segment being written, publish `stopped` instead of the Last Will."""
        self.service.stopping()
        self.camera.stop()
        if self.segments:
            self.segments.close()
        if self.mqtt:
            self.mqtt.stop()


def run_agent(config_path: Path, max_frames: int | None = None) -> int:
    """Load the config once and run until stopped; ``restart``/``reload``
    re-run in the same process with the config read afresh."""
    while True:
        agent = Agent(load_config(config_path), config_path)
        code = agent.run(max_frames)
        if code != EXIT_RESTART or os.environ.get("INVOCATION_ID"):
            return code  # under systemd, exit and let Restart= bring us back
        log.info("restarting in-process")
