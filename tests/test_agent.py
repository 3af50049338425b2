"""The agent against a real Mosquitto broker, as a real process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, write_video
from mqtt_fixtures import Broker, Recorder

DEVICE = "cam1"
BASE = f"cctv/{DEVICE}"


def agent_config(tmp_path: Path, bundle: Path, port: int, **mqtt_extra) -> Path:
    video = write_video(tmp_path / "camera.avi", 8, w=96, h=64, fps=10)
    cfg = {"camera": {"source": str(video), "loop": True, "watchdog_s": 5},
           "model": {"bundle": str(bundle), "backend": "onnxruntime", "precision": "fp32", "cache_dir": str(tmp_path / "cache")},
           "outputs": {"snapshot_interval_s": 0, "metadata": True,
                       "segments": {"enabled": True, "segment_s": 1, "max_total_mb": 0.2}},
           "mqtt": {"host": "127.0.0.1", "port": port, "device_id": DEVICE, "health_interval_s": 1,
                    "command_max_age_s": 30, **mqtt_extra},
           "state_dir": str(tmp_path / "state")}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_agent(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def command(rec: Recorder, name: str, args: dict | None = None, cid: str | None = None, issued_at: float | None = None,
            topic: str | None = None) -> str:
    cid = cid or f"{name}-{time.monotonic_ns()}"
    rec.publish(topic or f"{BASE}/cmd/{name}", {"id": cid, "issued_at": issued_at or time.time(), "args": args or {}})
    return cid


def reply(rec: Recorder, name: str, cid: str) -> dict:
    return rec.wait_json(f"{BASE}/reply/{name}", lambda d: d.get("id") == cid, timeout=30)


@pytest.fixture()
def running(tiny_bundle, tmp_path, broker):
    rec = Recorder(broker.port)
    proc = start_agent(agent_config(tmp_path, tiny_bundle, broker.port))
    rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
    yield proc, rec, broker
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    rec.close()


def test_birth_health_metadata_and_discovery(running):
    proc, rec, broker = running
    health = rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0 and d["camera_state"] == "streaming")
    for key in ("camera_state", "camera_fps", "processed_fps", "dropped_frames", "latency_p50_ms", "latency_p95_ms",
                "backend", "device", "precision", "model_version", "cpu_percent", "memory_mb", "temperature_c",
                "uptime_s", "camera_reconnects", "mqtt_reconnects", "last_error"):
        assert key in health
    assert health["backend"] == "onnxruntime"
    assert health["steps"] == 2 and health["samples_averaged"] == 1  # the tiny bundle's sampler, as the agent runs it
    meta = rec.wait_json(f"{BASE}/enhanced")
    assert len(meta["input_sha256"]) == 64 and meta["model"] == "tiny-test" and meta["latency_ms"] > 0
    switch = json.loads(rec.wait_for("homeassistant/switch/edge_agent_cam1/enhance/config"))
    assert switch["command_topic"] == f"{BASE}/enhance/set"
    assert json.loads(rec.wait_for("homeassistant/sensor/edge_agent_cam1/latency_p95_ms/config"))["state_topic"] == f"{BASE}/health"
    assert json.loads(rec.wait_for(f"{BASE}/model"))["version_code"] == 1
    # retained birth seen by a client that connects later
    late = Recorder(broker.port, f"{BASE}/status")
    assert late.wait_for(f"{BASE}/status") == b"online"
    late.close()


@pytest.mark.slow
def test_last_will_after_a_kill(running):
    """Timing-bound: the broker publishes the Last Will only after the keepalive runs out."""
    proc, rec, broker = running
    rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    rec.wait_for(f"{BASE}/status", lambda p: p == b"offline", timeout=90)  # the Last Will, after keepalive


def test_every_command_and_bad_ones(running):
    proc, rec, _ = running
    rec.publish(f"{BASE}/cmd/enhance", "OFF")  # Home Assistant's switch
    rec.wait_for(f"{BASE}/state/enhance", lambda p: p == b"OFF")
    assert rec.wait_json(f"{BASE}/enhanced", lambda d: d["enhanced"] is False)
    cid = command(rec, "enhance", {"enabled": True})
    assert reply(rec, "enhance", cid)["ok"]
    cid = command(rec, "set_steps", {"steps": 3})
    assert reply(rec, "set_steps", cid)["result"] == {"steps": 3}
    rec.wait_json(f"{BASE}/health", lambda d: d["steps"] == 3)
    cid = command(rec, "snapshot")
    assert reply(rec, "snapshot", cid)["ok"]
    assert rec.wait_for(f"{BASE}/snapshot")[:2] == b"\xff\xd8"  # a JPEG
    bad = reply(rec, "set_steps", command(rec, "set_steps", {"steps": 9}))
    assert not bad["ok"] and "steps" in bad["error"]  # refused, naming the argument
    unknown = reply(rec, "selfdestruct", command(rec, "selfdestruct"))
    assert not unknown["ok"] and "unknown command" in unknown["error"]
    rec.publish(f"{BASE}/cmd/snapshot", b"{not json")
    assert "not JSON" in rec.wait_json(f"{BASE}/reply/snapshot", lambda d: not d["ok"])["error"]
    stale = reply(rec, "enhance", command(rec, "enhance", {"enabled": False}, issued_at=time.time() - 3600))
    assert not stale["ok"] and "stale" in stale["error"]
    rec.publish(f"{BASE}/cmd/enhance", {"id": "exp-1", "issued_at": time.time(), "expires_at": time.time() - 1,
                                        "args": {"enabled": False}})
    assert "expired" in reply(rec, "enhance", "exp-1")["error"]
    # a duplicate (QoS 1 redelivery) is answered, not executed twice
    command(rec, "snapshot", cid="dup-1")
    command(rec, "snapshot", cid="dup-1")
    rec.wait_json(f"{BASE}/reply/snapshot", lambda d: d.get("id") == "dup-1" and d.get("duplicate"))
    # fleet-wide command, answered with MQTT 5 response topic + correlation data
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = "fleet-manager/replies", b"corr-42"
    rec.publish("cctv/fleet/cmd/health", {"id": "h-1", "issued_at": time.time()}, properties=props)
    rec.wait_for("fleet-manager/replies")
    corr = [m[3].CorrelationData for m in rec.messages if m[0] == "fleet-manager/replies"]
    assert corr == [b"corr-42"]
    assert proc.poll() is None  # still running after all of that
    rec.wait_json(f"{BASE}/health", lambda d: d["enhancement"] is True)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    rec.wait_for(f"{BASE}/status", lambda p: p == b"stopped")


def test_broker_restart_mid_stream(running, tmp_path):
    proc, rec, broker = running
    rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0)
    rec.close()
    broker.stop()
    time.sleep(3)  # enhancement goes on meanwhile
    broker.start()
    rec2 = Recorder(broker.port)
    health = rec2.wait_json(f"{BASE}/health", lambda d: d["mqtt_reconnects"] >= 1, timeout=60)
    assert health["processed_frames"] > 0 and proc.poll() is None
    rec2.close()


@pytest.mark.slow
def test_segments_are_written_and_capped(running, tmp_path):
    proc, rec, _ = running
    rec.wait_json(f"{BASE}/health", lambda d: d["segments_deleted"] >= 1, timeout=90)
    segments = list((tmp_path / "state" / "segments").glob("*.avi"))
    assert segments and sum(p.stat().st_size for p in segments) <= 0.2e6 + max(p.stat().st_size for p in segments)


def test_tls_connection_with_a_test_ca(tiny_bundle, tmp_path):
    from mqtt_fixtures import MOSQUITTO
    from tls_certs import make_ca_and_server

    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    certs = make_ca_and_server(tmp_path)
    tls_broker = Broker(tmp_path, tls=certs).start()
    try:
        rec = Recorder(tls_broker.port, ca_certs=certs["ca"])
        proc = start_agent(agent_config(tmp_path, tiny_bundle, tls_broker.port, tls={"ca_file": certs["ca"]}))
        try:
            rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
            assert rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            rec.close()
    finally:
        tls_broker.stop()


def test_mqtt_311_protocol(tiny_bundle, tmp_path, broker):
    rec = Recorder(broker.port)
    proc = start_agent(agent_config(tmp_path, tiny_bundle, broker.port, protocol="3.1.1"))
    try:
        rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
        cid = command(rec, "snapshot")
        assert reply(rec, "snapshot", cid)["ok"]  # no response topic in 3.1.1: the reply topic
    finally:
        proc.kill()
        proc.wait(timeout=10)
        rec.close()
