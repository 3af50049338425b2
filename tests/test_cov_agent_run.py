"""The agent through its public entry points (`edge-agent run` as a process,
`Agent.run()` in-process), with real parts: a network camera that really
drops and returns (the MJPEG server stops and starts), a real Mosquitto
(user/password, client-certificate TLS, a front that speaks only MQTT
3.1.1, a port where nothing listens yet), systemd's notify socket as a Unix
datagram socket the test binds, and real files. Waits are event-driven with
generous timeouts: the suite runs on a loaded 2-core box."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, write_video
from mjpeg_server import MjpegCamera
from mqtt_fixtures import Broker, Mqtt311OnlyProxy, Recorder, free_port

DEVICE = "cov1"
BASE = f"cctv/{DEVICE}"


def config(tmp_path: Path, bundle: Path, source: str | None = None, loop: bool = True, port: int | None = None,
           camera: dict | None = None, outputs: dict | None = None, **mqtt_extra) -> Path:
    if source is None:
        source = str(write_video(tmp_path / "camera.avi", 8, w=96, h=64, fps=10))
    cfg = {"camera": {"source": source, "loop": loop, "watchdog_s": 5, **(camera or {})},
           "model": {"bundle": str(bundle), "backend": "onnxruntime", "precision": "fp32",
                     "cache_dir": str(tmp_path / "cache")},
           "outputs": {"snapshot_interval_s": 0, "metadata": True, **(outputs or {})},
           "state_dir": str(tmp_path / "state")}
    if port is not None:
        cfg["mqtt"] = {"host": "127.0.0.1", "port": port, "device_id": DEVICE, "health_interval_s": 1,
                       "command_max_age_s": 30, **mqtt_extra}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start(config_path: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env})


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- files, the fps limit, systemd -----------------------------------------------------------

def test_a_non_looping_file_ends_and_the_agent_exits_cleanly(tiny_bundle, tmp_path):
    video = write_video(tmp_path / "clip.avi", 6, w=96, h=64, fps=10)
    proc = start(config(tmp_path, tiny_bundle, str(video), loop=False,
                        outputs={"segments": {"enabled": True, "segment_s": 60, "max_total_mb": 10}}))
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    segments = list((tmp_path / "state" / "segments").rglob("*.avi"))
    assert segments and all(p.stat().st_size > 0 for p in segments)  # closed and on disk


def test_fps_limit_paces_agent_run(tiny_bundle, tmp_path):
    from edge_agent.agent.loop import Agent
    from edge_agent.config import load_config

    path = config(tmp_path, tiny_bundle, camera={"fps_limit": 2.0})
    agent = Agent(load_config(path), path)
    result: dict = {}

    def run() -> None:
        t0 = time.monotonic()
        result["code"] = agent.run(max_frames=5)
        result["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=run)  # not the main thread: run() leaves pytest's signal handlers alone
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and result["code"] == 0
    assert agent.stats.processed == 5
    # 5 frames at 2 fps: 4 intervals of at least 0.5 s (a loaded box only makes it slower)
    assert result["elapsed"] >= 4 * 0.5 - 0.05
    times = list(agent.stats.times)[-5:]
    assert all(b - a >= 0.5 - 0.02 for a, b in zip(times, times[1:])), times


class NotifySocket:
    """systemd's side of sd_notify: a Unix datagram socket, every message kept."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, OSError):
                continue

    def lines(self) -> list[str]:
        return [line for m in list(self.messages) for line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_sd_notify_ready_watchdog_and_stopping_on_a_real_socket(tiny_bundle, tmp_path):
    notify = NotifySocket(tmp_path)
    proc = start(config(tmp_path, tiny_bundle), NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="600000")
    try:
        wait_until(lambda: "READY=1" in notify.lines(), 180, "READY=1")
        wait_until(lambda: notify.lines().count("WATCHDOG=1") >= 3, 120, "three WATCHDOG=1")
        assert stop(proc) == 0
        wait_until(lambda: "STOPPING=1" in notify.lines(), 10, "STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        notify.close()
    lines = notify.lines()
    waiting = [i for i, line in enumerate(lines) if line.startswith("STATUS=waiting")]
    assert waiting and waiting[0] < lines.index("READY=1")  # not ready before the first enhanced frame
    assert lines.index("READY=1") < lines.index("WATCHDOG=1") < lines.index("STOPPING=1")


def test_without_a_watchdog_no_watchdog_message_is_sent(tiny_bundle, tmp_path):
    notify = NotifySocket(tmp_path)
    proc = start(config(tmp_path, tiny_bundle), NOTIFY_SOCKET=str(notify.path))
    try:
        wait_until(lambda: "READY=1" in notify.lines(), 180, "READY=1")
        time.sleep(2)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        notify.close()
    assert "WATCHDOG=1" not in notify.lines() and "STOPPING=1" in notify.lines()


# -- a camera that drops and returns, periodic snapshots -------------------------------------

def test_network_camera_drops_and_returns_under_agent_run(tiny_bundle, tmp_path, broker):
    server = MjpegCamera(free_port()).start()
    rec = Recorder(broker.port)
    proc = start(config(tmp_path, tiny_bundle, server.url, port=broker.port,
                        camera={"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0, "watchdog_s": 3}))
    try:
        before = rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0
                               and d["camera_state"] == "streaming", timeout=180)
        server.stop()  # the camera really goes away: its HTTP server closes
        rec.wait_json(f"{BASE}/health", lambda d: d["camera_state"] in ("reconnecting", "connecting"), timeout=60)
        time.sleep(1.5)  # some failed attempts with backoff
        server.start()
        after = rec.wait_json(f"{BASE}/health", lambda d: d["camera_reconnects"] >= 1
                              and d["camera_state"] == "streaming"
                              and d["processed_frames"] > before["processed_frames"] + 2, timeout=120)
        assert after["last_error"] is not None and proc.poll() is None
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        rec.close()
        server.stop()


def test_periodic_snapshots_without_a_request(tiny_bundle, tmp_path, broker):
    rec = Recorder(broker.port)
    proc = start(config(tmp_path, tiny_bundle, port=broker.port, outputs={"snapshot_interval_s": 1}))
    try:
        wait_until(lambda: len([p for p in rec.payloads(f"{BASE}/snapshot") if p[:2] == b"\xff\xd8"]) >= 3,
                   180, "three JPEG snapshots")
        assert not rec.payloads(f"{BASE}/reply/snapshot")  # nobody asked
    finally:
        stop(proc)
        rec.close()


# -- the broker side: protocol fallback, refused connection, authentication ------------------

def test_mqtt_5_refused_falls_back_to_311(tiny_bundle, tmp_path, broker):
    proxy = Mqtt311OnlyProxy(broker.port)
    rec = Recorder(broker.port)
    proc = start(config(tmp_path, tiny_bundle, port=proxy.port))  # protocol: auto
    try:
        rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=180)
        assert proxy.refused_v5 >= 1 and proxy.passed_311 >= 1
        cid = f"snap-{time.monotonic_ns()}"
        rec.publish(f"{BASE}/cmd/snapshot", {"id": cid, "issued_at": time.time(), "args": {}})
        assert rec.wait_json(f"{BASE}/reply/snapshot", lambda d: d.get("id") == cid, timeout=60)["ok"]
    finally:
        stop(proc)
        rec.close()
        proxy.close()


def test_refused_connection_keeps_enhancing_and_connects_when_the_broker_appears(tiny_bundle, tmp_path):
    port = free_port()  # nothing listens here yet: connections are refused
    notify = NotifySocket(tmp_path)
    proc = start(config(tmp_path, tiny_bundle, port=port), NOTIFY_SOCKET=str(notify.path))
    broker = None
    try:
        wait_until(lambda: "READY=1" in notify.lines(), 180, "READY=1 (enhancing without a broker)")
        assert proc.poll() is None
        broker = Broker(tmp_path, port=port).start()
        rec = Recorder(port)
        rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=120)
        assert rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0, timeout=60)
        rec.close()
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        notify.close()
        if broker:
            broker.stop()


def refused_while_enhancing(proc: subprocess.Popen, notify: "NotifySocket", rec: Recorder) -> None:
    """The broker refuses the box: it enhances on (READY), retries, never gets online."""
    wait_until(lambda: "READY=1" in notify.lines(), 180, "READY=1")
    time.sleep(4)  # MQTT starts before the first frame; by now it has tried (and retried) for seconds
    assert proc.poll() is None and rec.payloads(f"{BASE}/status") == []


def test_username_and_password_from_the_environment(tiny_bundle, tmp_path):
    from mqtt_fixtures import MOSQUITTO

    assert Path(MOSQUITTO).exists(), "mosquitto is not installed (tests/run.sh installs it)"
    broker = Broker(tmp_path, users={"cam": "s3cret-pw", "admin": "admin-pw"}).start()
    rec = Recorder(broker.port, auth=("admin", "admin-pw"))
    cfg = config(tmp_path, tiny_bundle, port=broker.port, username="cam", password_env="TEST_MQTT_PASSWORD")
    notify = NotifySocket(tmp_path)
    wrong = start(cfg, TEST_MQTT_PASSWORD="not-it", NOTIFY_SOCKET=str(notify.path))
    try:
        refused_while_enhancing(wrong, notify, rec)
        stop(wrong)
        right = start(cfg, TEST_MQTT_PASSWORD="s3cret-pw")
        try:
            rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=180)
            assert rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0, timeout=60)
        finally:
            stop(right)
    finally:
        if wrong.poll() is None:
            wrong.kill()
        notify.close()
        rec.close()
        broker.stop()


def test_client_certificate_tls(tiny_bundle, tmp_path):
    from mqtt_fixtures import MOSQUITTO
    from tls_certs import make_ca_and_server, make_client_cert

    assert Path(MOSQUITTO).exists(), "mosquitto is not installed (tests/run.sh installs it)"
    certs = make_ca_and_server(tmp_path)
    client = make_client_cert(tmp_path, certs, "cam1")
    recorder_cert = make_client_cert(tmp_path, certs, "recorder")
    broker = Broker(tmp_path, tls=certs, require_certificate=True).start()
    rec = Recorder(broker.port, ca_certs=certs["ca"], certfile=recorder_cert["cert"], keyfile=recorder_cert["key"])
    try:
        notify = NotifySocket(tmp_path)
        without = start(config(tmp_path, tiny_bundle, port=broker.port, tls={"ca_file": certs["ca"]}),
                        NOTIFY_SOCKET=str(notify.path))
        try:
            refused_while_enhancing(without, notify, rec)  # refused in the TLS handshake
        finally:
            stop(without)
            notify.close()
        proc = start(config(tmp_path, tiny_bundle, port=broker.port,
                            tls={"ca_file": certs["ca"], "cert_file": client["cert"], "key_file": client["key"]}))
        try:
            rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=180)
            assert rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0, timeout=60)
        finally:
            stop(proc)
    finally:
        rec.close()
        broker.stop()
