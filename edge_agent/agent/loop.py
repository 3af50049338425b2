"""The on-camera agent: camera -> enhancement -> outputs, health and commands.

One loop thread owns the enhancer, the outputs and every state change;
MQTT callbacks only enqueue commands, which the loop executes between
frames. So no lock guards the model, and a command takes effect exactly
between two frames.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..mqtt.commands import CommandRouter
from .camera import Frame, LatestFrameCamera
from ..config import AgentConfig, load_config
from ..mqtt.discovery import discovery_messages
from ..errors import CommandError
from .health import CpuMeter, RollingStats, load_average, rss_mb, temperature_c
from ..updates.store import ModelStore
from ..mqtt.link import Incoming, MqttLink
from ..paths import default_cache_dir, default_model_path
from ..runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from .segments import SegmentStore
from .systemd import notify, watchdog_interval_s
from ..updates.install import Offer, UpdateJob, check_offer

log = logging.getLogger("edge_agent")
EXIT_RESTART = 75  # EX_TEMPFAIL: systemd's Restart=on-failure brings the agent back
STREAM_GAP_S = 2.0  # frames further apart than this (and than 3 usual intervals) do not continue the temporal filter


class Agent:
    def __init__(self, cfg: AgentConfig, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.device = (cfg.mqtt.device_id if cfg.mqtt and cfg.mqtt.device_id else socket.gethostname().split(".")[0])
        m = cfg.model
        self.store = ModelStore(cfg.resolved_state_dir())
        # a model installed by a fleet update wins over the configured/packaged one
        self.bundle = self.store.boot_bundle(Path(m.bundle) if m.bundle else default_model_path())
        self.settings = EnhanceSettings(
            backend=m.backend, device=m.device, precision=m.precision, steps=m.steps, seed=m.seed, threads=m.threads,
            cache_dir=Path(m.cache_dir) if m.cache_dir else default_cache_dir())
        self.enhancer = Enhancer(self.bundle, self.settings)
        self.stream = StreamEnhancer(self.enhancer, m.temporal)
        self._stream_mark: tuple[float, float, int] | None = None  # (monotonic time, interval, camera reconnects)
        self.update_job: UpdateJob | None = None
        self.update_request: Incoming | None = None
        self.update_result: tuple[Path | None, Enhancer | None, str | None] | None = None
        self.rollback_watch: dict[str, Any] | None = None
        self.camera = LatestFrameCamera(cfg.camera)
        self.enhance_enabled = cfg.enhance
        self.stats = RollingStats()
        self.cpu = CpuMeter()
        self.started = time.monotonic()
        self.last_error: str | None = None
        self.snapshot_requested = False
        self.exit_code: int | None = None
        self.ready = False
        self._last_health = self._last_snapshot = 0.0
        self._last_watchdog = 0.0
        self._progress_since_watchdog = False
        state_dir = cfg.resolved_state_dir()
        seg = cfg.outputs.segments
        self.segments = SegmentStore(state_dir / seg.directory if not Path(seg.directory).is_absolute()
                                     else Path(seg.directory), seg.segment_s, seg.max_total_mb) if seg.enabled else None
        self.router = CommandRouter(
            {"enhance": self.cmd_enhance, "set_steps": self.cmd_set_steps, "snapshot": self.cmd_snapshot,
             "reload": self.cmd_reload, "restart": self.cmd_restart, "health": lambda args: self.health(),
             "update": self.cmd_update},
            max_age_s=cfg.mqtt.command_max_age_s if cfg.mqtt else 60.0)
        self.mqtt = MqttLink(cfg.mqtt, self.device, self.publish_state) if cfg.mqtt else None

    # -- the loop -------------------------------------------------------------
    def _stop_on_signal(self, signum: int, _frame: object) -> None:
        self.exit_code = 0  # SIGTERM from systemd: finish the frame, publish `stopped`, exit cleanly

    def run(self, max_frames: int | None = None) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._stop_on_signal)
            signal.signal(signal.SIGINT, self._stop_on_signal)
        self.camera.start()
        if self.mqtt:
            self.mqtt.start()
        notify(f"STATUS=waiting for the first frame from {self.cfg.camera.source}")
        try:
            while self.exit_code is None:
                self._respect_fps_limit()
                frame = self.camera.latest(timeout=0.5)
                if frame is not None:
                    self.process(frame)
                elif self.camera.ended:
                    self.exit_code = 0
                self.run_commands()
                self.periodic()
                if max_frames is not None and self.stats.processed >= max_frames:
                    self.exit_code = 0
        finally:
            self.shutdown()
        return self.exit_code

    def _respect_fps_limit(self) -> None:
        limit = self.cfg.camera.fps_limit
        if limit > 0 and self.stats.times:
            wait = self.stats.times[-1] + 1.0 / limit - time.monotonic()
            if wait > 0:  # frames arriving meanwhile are superseded (latest-frame policy) and counted as dropped
                time.sleep(min(wait, 0.5))

    def process(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        try:
            self._continue_or_reset_stream()
            out = self.stream(frame.rgb) if self.enhance_enabled else frame.rgb
        except Exception as exc:  # a bad frame must not stop the camera; it is reported in health
            self.last_error = f"enhancement failed: {exc}"
            log.exception("enhancement failed")
            self.watch_new_model(ok=False)
            return
        self.watch_new_model(ok=float(out.std()) > 0.5)  # a constant frame means a broken network
        latency_ms = (time.perf_counter() - t0) * 1e3
        self.stats.add(latency_ms)
        self._progress_since_watchdog = True
        if not self.ready:
            self.ready = True
            notify("READY=1\nSTATUS=enhancing")
        if self.segments:
            self.segments.write(out, frame.captured_at)
        if self.mqtt and self.cfg.outputs.metadata:
            self.mqtt.publish(self.mqtt.topic("enhanced"), self.metadata(frame, out, latency_ms))
        interval = self.cfg.outputs.snapshot_interval_s
        if self.mqtt and (self.snapshot_requested or (interval > 0 and time.monotonic() - self._last_snapshot >= interval)):
            ok, jpeg = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.cfg.outputs.snapshot_quality])
            if ok:
                self.mqtt.publish(self.mqtt.topic("snapshot"), jpeg.tobytes())
            self.snapshot_requested, self._last_snapshot = False, time.monotonic()

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

    def metadata(self, frame: Frame, out: np.ndarray, latency_ms: float) -> dict[str, Any]:
        return {"frame": frame.index, "captured_at": frame.captured_at, "published_at": time.time(),
                "latency_ms": round(latency_ms, 1), "enhanced": self.enhance_enabled,
                "model": self.bundle.name, "model_version": self.bundle.version, "steps": self.enhancer.steps,
                "input_sha256": hashlib.sha256(frame.rgb.tobytes()).hexdigest(),
                "output_sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                "shape": list(out.shape)}

    def periodic(self) -> None:
        now = time.monotonic()
        if self.mqtt and now - self._last_health >= self.cfg.mqtt.health_interval_s:
            self._last_health = now
            self.mqtt.publish(self.mqtt.topic("health"), self.health())
        interval = watchdog_interval_s()
        if interval is not None and now - self._last_watchdog >= interval:
            # fed by frame progress (or a camera that is visibly reconnecting), never by a bare timer:
            # a hung inference or a hung stream read stops the feeding and systemd restarts us
            if self._progress_since_watchdog or self.camera.state in ("connecting", "reconnecting"):
                notify("WATCHDOG=1")
                self._last_watchdog, self._progress_since_watchdog = now, False

    def run_commands(self) -> None:
        if not self.mqtt:
            return
        while True:
            try:
                incoming = self.mqtt.commands.get_nowait()
            except queue.Empty:
                break
            self.update_request = incoming if incoming.name == "update" else self.update_request
            reply = self.router.handle(incoming.name, incoming.payload)
            self.mqtt.reply(incoming, reply)
        if self.update_result is not None:
            self.apply_update()

    # -- MQTT state -----------------------------------------------------------
    def publish_state(self) -> None:
        """Retained state, published on every (re)connect before `online`."""
        assert self.mqtt is not None
        self.mqtt.publish(self.mqtt.topic("state", "enhance"), "ON" if self.enhance_enabled else "OFF", qos=1, retain=True)
        self.mqtt.publish(self.mqtt.topic("model"), {"name": self.bundle.name, "version": self.bundle.version,
                                                     "version_code": self.bundle.version_code}, qos=1, retain=True)
        if self.cfg.mqtt.home_assistant:
            for topic, config in discovery_messages(self.cfg.mqtt.discovery_prefix, self.mqtt.base, self.device,
                                                    self.bundle.version).items():
                self.mqtt.publish(topic, config, qos=1, retain=True)

    def health(self) -> dict[str, Any]:
        d = self.enhancer.describe()
        return {"device_id": self.device, "time": time.time(), "uptime_s": round(time.monotonic() - self.started, 1),
                "camera_state": self.camera.state, "camera_fps": round(self.camera.fps, 2),
                "processed_fps": self.stats.fps(), "processed_frames": self.stats.processed,
                "dropped_frames": self.camera.dropped, "latency_p50_ms": self.stats.percentile(50),
                "latency_p95_ms": self.stats.percentile(95), "enhancement": self.enhance_enabled,
                "temporal_filter": self.stream.filter is not None, "backend": d["backend"], "device": d["device"], "precision": d["precision"], "steps": d["steps"],
                "model": d["model"], "model_version": d["model_version"], "cpu_percent": self.cpu.read(),
                "memory_mb": rss_mb(), "temperature_c": temperature_c(), "load_1m": load_average(),
                "camera_reconnects": self.camera.reconnects, "camera_watchdog_restarts": self.camera.watchdog_restarts,
                "mqtt_reconnects": self.mqtt.reconnects if self.mqtt else 0,
                "segments_deleted": self.segments.deleted if self.segments else 0,
                "last_error": self.last_error or self.camera.last_error}

    # -- commands (run on the loop thread) -----------------------------------
    def cmd_enhance(self, args: dict[str, Any]) -> dict[str, Any]:
        enabled = args.get("enabled")
        if not isinstance(enabled, bool):
            raise CommandError("enhance needs args.enabled true or false")
        self.enhance_enabled = enabled
        self.stream.reset()
        if self.mqtt:
            self.mqtt.publish(self.mqtt.topic("state", "enhance"), "ON" if enabled else "OFF", qos=1, retain=True)
        return {"enabled": enabled}

    def cmd_set_steps(self, args: dict[str, Any]) -> dict[str, Any]:
        steps = args.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool):
            raise CommandError(f"set_steps needs args.steps, one of {self.bundle.sampler.steps}")
        self.enhancer.set_steps(steps)
        self.stream.reset()
        return {"steps": steps}

    def cmd_snapshot(self, args: dict[str, Any]) -> dict[str, Any]:
        self.snapshot_requested = True
        return {"snapshot": "on the next frame"}

    def cmd_reload(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.config_path is None:
            raise CommandError("no config file to reload")
        load_config(self.config_path)  # a bad file is refused here and the agent keeps running
        self.exit_code = EXIT_RESTART
        return {"reload": "config valid; restarting with it"}

    def cmd_restart(self, args: dict[str, Any]) -> dict[str, Any]:
        self.exit_code = EXIT_RESTART
        return {"restart": "restarting"}

    # -- fleet updates ----------------------------------------------------------
    def cmd_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.cfg.updates.trusted_keys:
            raise CommandError("updates are disabled: no trusted_keys in this box's config")
        if self.update_job is not None and self.update_job.is_alive():
            raise CommandError("an update is already in progress")
        offer = Offer.parse(args)
        manifest = check_offer(offer, self.cfg.updates.trusted_keys, self.bundle.version_code)
        request = self.update_request

        def progress(stage: str, extra: dict[str, Any]) -> None:
            self._update_reply(request, {"ok": True, "stage": stage, **extra})

        def ask(missing: list[int]) -> None:
            self.mqtt.publish(self.mqtt.topic("update", offer.transfer_id, "need"), {"missing": missing}, qos=1)

        def done(bundle_dir: Path | None, enhancer: Enhancer | None, error: str | None) -> None:
            self.update_result = (bundle_dir, enhancer, error)  # applied by the loop, between two frames

        self.update_job = UpdateJob(offer, self.store, self.settings, progress, ask, done)
        if self.mqtt and offer.transfer_id:
            receiver = self.update_job.receiver
            self.mqtt.chunk_sink = lambda tid, i, data: receiver.put(i, data) if tid == offer.transfer_id else None
        self.update_job.start()
        return {"accepted": True, "version": manifest["version"], "version_code": manifest["version_code"]}

    def _update_reply(self, request: Incoming | None, body: dict[str, Any]) -> None:
        if self.mqtt is None or request is None:
            return
        cid = _command_id(request.payload)
        self.mqtt.reply(request, {"id": cid, "command": "update", **body})

    def apply_update(self) -> None:
        bundle_dir, enhancer, error = self.update_result
        self.update_result = None
        if self.mqtt:
            self.mqtt.chunk_sink = None
        if error is not None:
            self._report_update({"ok": False, "stage": "refused", "error": error})
            return
        old = self.enhancer
        self.use_enhancer(enhancer)  # the swap: between two frames, no frame lost
        self.store.switch_to(bundle_dir)
        self.store.prune(self.cfg.updates.keep_bundles)
        self.rollback_watch = {"old": old, "failures": 0, "ok": 0}
        if self.mqtt:
            self.publish_state()
        self._report_update({"ok": True, "stage": "installed", "version": self.bundle.version,
                             "version_code": self.bundle.version_code})

    def use_enhancer(self, enhancer: Enhancer) -> None:
        """Switch models; the new stream starts without the old model's history."""
        self.bundle, self.enhancer = enhancer.bundle, enhancer
        self.stream = StreamEnhancer(enhancer, self.cfg.model.temporal)

    def watch_new_model(self, ok: bool) -> None:
        """After a swap: N failing frames in a row put the previous model back."""
        watch = self.rollback_watch
        if watch is None:
            return
        watch["failures"] = 0 if ok else watch["failures"] + 1
        watch["ok"] += int(ok)
        if watch["failures"] >= self.cfg.updates.rollback_frames:
            failed = self.bundle.version
            self.use_enhancer(watch["old"])
            self.store.roll_back()
            self.rollback_watch = None
            if self.mqtt:
                self.publish_state()
            self._report_update({"ok": False, "stage": "rolled back", "error": f"model {failed} failed "
                                 f"{self.cfg.updates.rollback_frames} frames in a row; back on {self.bundle.version}"})
        elif watch["ok"] >= 10 * self.cfg.updates.rollback_frames:
            self.rollback_watch = None  # proven: stop watching

    def _report_update(self, body: dict[str, Any]) -> None:
        self._update_reply(self.update_request, body)
        if self.mqtt:
            self.mqtt.publish(self.mqtt.topic("update_result"), {**body, "time": time.time()}, qos=1, retain=True)

    def shutdown(self) -> None:
        notify("STOPPING=1")
        self.camera.stop()
        if self.segments:
            self.segments.close()
        if self.mqtt:
            self.mqtt.stop()


def _command_id(payload: bytes) -> str | None:
    try:
        body = json.loads(payload)
        return body.get("id") if isinstance(body, dict) else None
    except ValueError:
        return None


def run_agent(config_path: Path, max_frames: int | None = None) -> int:
    """Load the config once and run until stopped; ``restart``/``reload``
    re-run in the same process with the config read afresh."""
    while True:
        agent = Agent(load_config(config_path), config_path)
        code = agent.run(max_frames)
        if code != EXIT_RESTART or os.environ.get("INVOCATION_ID"):
            return code  # under systemd, exit and let Restart= bring us back
        log.info("restarting in-process")
