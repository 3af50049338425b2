"""The command router and the MQTT link under broken and hostile input, one
rule at a time: limits before parsing, finite timestamps within the clock
skew, ids run once (also after a restart), signed state-changing commands
bound to a target, paho's callbacks that never raise, a full queue, a dead
network thread restarted, and a watchdog fed only while the link is up."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from edge_agent.config import parse_config
from edge_agent.errors import CommandError
from edge_agent.mqtt.commands import NOT_TARGETED, CommandAuth, CommandRouter, command_payload, load_command_keys
from edge_agent.mqtt.link import MqttLink
from edge_agent.agent.systemd import ServiceNotifier
from edge_agent.updates.signing import generate_keypair, load_private_key

from mqtt_fixtures import Recorder


def router(tmp_path, auth=None, calls=None):
    calls = calls if calls is not None else []
    handlers = {"restart": lambda a: calls.append(("restart", a)) or {}, "health": lambda a: {"up": True},
                "boom": lambda a: 1 / 0}
    return CommandRouter(handlers, max_age_s=60, clock_skew_s=30, auth=auth, seen_path=tmp_path / "seen.json"), calls


def send(r, name, body):
    return r.handle(name, json.dumps(body).encode())


NOW = "now"  # replaced by the time the test runs (collection may be long before)


@pytest.mark.parametrize("body,expected", [
    ({"id": "a", "issued_at": 4102444800.0}, "in the future"),  # year 2100
    ({"id": "a", "issued_at": -3600}, "stale"),
    ({"id": "a", "issued_at": "later"}, "finite unix time"),
    ({"id": "a", "issued_at": 1e300}, "finite unix time"),
    ({"id": "a", "issued_at": NOW, "expires_at": -1}, "expired"),
    ({"id": "a" * 500, "issued_at": NOW}, "string 'id'"),
    ({"id": 5, "issued_at": NOW}, "string 'id'"),
    ({"id": "a", "issued_at": NOW, "args": [1]}, "must be a JSON object"),
])
def test_envelope_refusals(tmp_path, body, expected):
    now = time.time()
    body = dict(body)
    if body["issued_at"] == NOW:
        body["issued_at"] = now
    elif body["issued_at"] == -3600:
        body["issued_at"] = now - 3600
    if body.get("expires_at") == -1:
        body["expires_at"] = now - 1
    r, calls = router(tmp_path)
    reply = send(r, "restart", body)
    assert not reply["ok"] and expected in reply["error"] and not calls


@pytest.mark.parametrize("payload,expected", [
    (b'{"id":"a","issued_at":NaN}', "must be finite"), (b'{"id":"a","issued_at":Infinity}', "must be finite"),
    (b'{"id":"a","issued_at":1e400}', "not finite"), (b'{"id":"a","issued_at":' + b"9" * 5000 + b"}", "digits"),
    (b"[" * 100_000, "nested deeper"), (b"x" * 300_000, "over the limit"), (b"\xff", "not JSON"),
])
def test_limits_before_parsing(tmp_path, payload, expected):
    r, calls = router(tmp_path)
    reply = r.handle("restart", payload)
    assert not reply["ok"] and expected in reply["error"] and not calls


def test_a_failing_handler_is_answered_not_raised(tmp_path):
    r, _ = router(tmp_path)
    reply = send(r, "boom", {"id": "b1", "issued_at": time.time()})
    assert reply == {"id": "b1", "command": "boom", "ok": False, "error": "internal error: ZeroDivisionError"}


def test_ids_run_once_also_after_a_restart_and_retained_never_runs(tmp_path):
    r, calls = router(tmp_path)
    body = {"id": "r1", "issued_at": time.time()}
    assert send(r, "restart", body)["ok"] and send(r, "restart", body)["duplicate"]
    r2, calls2 = router(tmp_path)  # a new process: the ids are on disk
    assert send(r2, "restart", body)["duplicate"] and len(calls) == 1 and not calls2
    retained = r2.handle("restart", json.dumps({"id": "r2", "issued_at": time.time()}).encode(), retained=True)
    assert "retained commands are refused" in retained["error"] and not calls2


@pytest.fixture(scope="module")
def roles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roles")
    return {name: generate_keypair(folder, name) for name in ("commands", "updates")}


def test_state_changing_commands_need_a_signature_bound_to_this_box(tmp_path, roles):
    key = load_private_key(roles["commands"][0])
    auth = CommandAuth(load_command_keys([str(roles["commands"][1])]), {"box1", "fleet", "lobby"}, {"health"})
    r, calls = router(tmp_path, auth)
    now = time.time()

    def signed(cid, target="box1", signer=key, expires=now + 60, args=None):
        return command_payload(cid, args or {}, expires_at=expires, issued_at=now, name="restart", target=target,
                               key=signer)

    assert "needs 'auth'" in send(r, "restart", {"id": "u", "issued_at": now})["error"]
    assert send(r, "health", {"id": "h", "issued_at": now})["ok"]  # read-only stays open
    assert send(r, "restart", signed("s1"))["ok"] and send(r, "restart", signed("s2", target="lobby"))["ok"]
    elsewhere = send(r, "restart", signed("s3", target="box2"))
    assert elsewhere["code"] == NOT_TARGETED and "not this box" in elsewhere["error"]  # machine-readable, and said
    forged = send(r, "restart", signed("s4", signer=load_private_key(roles["updates"][0])))
    assert "does not verify" in forged["error"] and "code" not in forged  # a real refusal is not "not targeted"
    tampered = signed("s5")
    tampered["args"] = {"evil": True}
    assert "does not verify" in send(r, "restart", tampered)["error"]
    assert "expires_at within" in send(r, "restart", signed("s6", expires=now + 10**6))["error"]
    assert r.handle("enhance", b"ON")["ok"] is False  # Home Assistant's raw switch only where enhance is open
    assert len(calls) == 2


def test_a_command_aimed_at_another_box_or_group_is_refused_even_unsigned(tmp_path):
    r, calls = router(tmp_path, None)
    r.targets = {"box1", "fleet", "lobby"}
    now = time.time()
    elsewhere = send(r, "restart", {"id": "g1", "issued_at": now, "target": "yard"})
    assert elsewhere["code"] == NOT_TARGETED and "'yard' is not this box" in elsewhere["error"]
    assert "code" not in send(r, "restart", {"id": "g4", "issued_at": now, "args": []})  # other refusals carry none
    assert send(r, "restart", {"id": "g2", "issued_at": now, "target": "lobby"})["ok"]
    assert send(r, "restart", {"id": "g3", "issued_at": now})["ok"]  # no target: addressed by its topic
    assert len(calls) == 2


class Msg(SimpleNamespace):
    pass


def link(tmp_path, port=1) -> MqttLink:
    cfg = parse_config({"camera": {"source": "x"}, "mqtt": {"host": "127.0.0.1", "port": port, "device_id": "box1"}})
    return MqttLink(cfg.mqtt, "box1", lambda: None)


def test_paho_callbacks_never_raise_and_a_full_queue_drops(tmp_path):
    lk = link(tmp_path)
    got = []
    lk.chunk_sink = lambda tid, i, data: got.append(i) if i != 7 else 1 / 0
    for topic in ("cctv/box1/update/t1/chunk/²", "cctv/box1/update/t1/chunk/" + "9" * 50, "cctv/box1/update/t1/chunk/7",
                  "cctv/box1/update/t1/chunk/3"):
        lk._handle_message(None, None, Msg(topic=topic, payload=b"x", retain=False, properties=None))
    assert got == [3] and "ZeroDivisionError" in lk.last_error
    lk._handle_message(None, None, Msg(topic="cctv/box1/cmd/health", payload=b"x" * 400_000, retain=True,
                                       properties=None))
    first = lk.commands.get_nowait()
    assert first.too_large == 400_000 and first.payload == b"" and first.retained
    lk._handle_message(None, None, Msg(topic="cctv/box1/cmd/x", payload=b"{}", retain=False, properties=object()))
    for _ in range(150):
        lk._handle_message(None, None, Msg(topic="cctv/box1/cmd/health", payload=b"{}", retain=False, properties=None))
    assert lk.commands.qsize() == 100 and lk.dropped == 51
    lk._handle_connect(None, None, None, None, None)  # a broken reason object: caught too


def test_a_dead_network_thread_is_restarted_and_commands_flow_again(tmp_path, broker):
    lk = link(tmp_path, broker.port)
    lk.start()
    assert lk.connected.wait(30)
    lk.client._thread_terminate = True  # the thread ends as it would after an escaped exception
    deadline = time.monotonic() + 30
    while lk.loop_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not lk.healthy()
    assert lk.check() and lk.loop_restarts == 1
    rec = Recorder(broker.port)
    try:
        deadline = time.monotonic() + 30
        while lk.commands.empty() and time.monotonic() < deadline:
            rec.publish("cctv/box1/cmd/health", {"id": "x", "issued_at": time.time()})
            time.sleep(0.2)
        assert lk.commands.get_nowait().name == "health"
    finally:
        rec.close()
        lk.stop()


def test_watchdog_is_fed_only_while_the_link_is_healthy(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    try:
        notifier = ServiceNotifier()
        notifier.frame_done()
        assert b"READY=1" in sock.recv(1024)
        notifier.tick(100.0, "streaming", link_ok=False)
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(1024)
        notifier.tick(100.0, "streaming", link_ok=True)
        sock.settimeout(5)
        assert sock.recv(1024) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_reload_refuses_a_bad_config_and_restart_asks_for_a_restart(tmp_path):
    from edge_agent.agent.loop import Agent
    good = tmp_path / "agent.yaml"
    good.write_text(f"camera: {{source: {tmp_path / 'none.avi'}}}\nstate_dir: {tmp_path / 'state'}\n"
                    "model: {backend: onnxruntime, precision: fp32}\n")
    agent = Agent(parse_config({"camera": {"source": str(tmp_path / "none.avi")}, "state_dir": str(tmp_path / "state"),
                                "model": {"backend": "onnxruntime", "precision": "fp32"}}), good)
    assert agent.cmd_reload({}) and agent.exit_code == 75
    agent.exit_code = None
    good.write_text("camera: {source: 5, bogus: 1}\n")
    reply = agent.router.handle("reload", json.dumps({"id": "rl", "issued_at": time.time()}).encode())
    assert not reply["ok"] and "camera.bogus: unknown key" in reply["error"]
    assert agent.exit_code is None
    assert agent.cmd_restart({}) and agent.exit_code == 75
    with pytest.raises(CommandError):
        agent.cmd_restart({"now": True})  # no arguments allowed


def test_a_device_the_box_does_not_have_is_refused_at_start(tmp_path):
    from edge_agent.agent.loop import Agent
    from edge_agent.errors import UserError
    cfg = parse_config({"camera": {"source": "x"}, "state_dir": str(tmp_path / "state"),
                        "model": {"backend": "openvino", "device": "NPU.7", "precision": "fp32"}})
    with pytest.raises(UserError, match="NPU.7"):
        Agent(cfg)


def test_fleet_tool_reports_an_unreachable_broker_in_one_line():
    import subprocess
    import sys

    from conftest import ROOT
    from mqtt_fixtures import free_port
    r = subprocess.run([sys.executable, "-m", "edge_agent", "fleet", "status", "--host", "127.0.0.1",
                        "--port", str(free_port())], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "cannot be reached" in r.stderr
