"""End to end on a real Mosquitto: retained poison on every topic the box
listens to is waiting before the agent starts; the agent comes up, keeps
enhancing, answers the poison with errors, and a retained or replayed
`restart` runs once (no restart loop)."""
from __future__ import annotations

import json
import time

from mqtt_fixtures import Recorder
from test_agent import BASE, agent_config, start_agent

FLEET = "cctv/fleet"


def onlines(rec: Recorder) -> int:
    return sum(1 for p in rec.payloads(f"{BASE}/status") if p == b"online")


def test_retained_poison_does_not_stop_the_agent_and_restart_runs_once(tiny_bundle, tmp_path, broker):
    poison = Recorder(broker.port, topics="nothing/#")
    now = time.time()
    for topic, payload in [
        (f"{FLEET}/cmd/health", b"[" * 200_000), (f"{BASE}/cmd/health", b"{\"a\":" * 50_000),
        (f"{BASE}/cmd/restart", json.dumps({"id": "retained-restart", "issued_at": now})),
        (f"{BASE}/cmd/enhance", b'{"id":"n","issued_at":NaN,"args":{"enabled":false}}'),
        (f"{BASE}/cmd/set_steps", b'{"id":"big","issued_at":' + b"9" * 5000 + b"}"),
        (f"{FLEET}/cmd/update", json.dumps({"id": "u", "issued_at": now, "args": {"transfer": {"chunks": {"id": 5}}}})),
        (f"{BASE}/update/t1/chunk/\u00b2", b"x"), (f"{FLEET}/update/t1/chunk/1", b"y" * 300_000),
        (f"{BASE}/cmd/health", b"x" * 400_000),
    ]:
        poison.publish(topic, payload, retain=True)
    rec = Recorder(broker.port)
    proc = start_agent(agent_config(tmp_path, tiny_bundle, broker.port))
    try:
        rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=120)
        refusal = rec.wait_json(f"{BASE}/reply/restart", lambda d: d.get("id") == "retained-restart", timeout=60)
        assert "retained commands are refused" in refusal["error"]
        first = rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0, timeout=120)
        rec.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > first["processed_frames"] + 5, timeout=120)
        assert proc.poll() is None and onlines(rec) == 1
        # a fresh health command is answered after all that
        rec.publish(f"{BASE}/cmd/health", {"id": "h1", "issued_at": time.time()})
        assert rec.wait_json(f"{BASE}/reply/health", lambda d: d.get("id") == "h1")["ok"]
        # a live restart runs (in-process here, by systemd under the unit) ...
        restart = {"id": "live-restart", "issued_at": time.time()}
        rec.publish(f"{BASE}/cmd/restart", restart)
        deadline = time.monotonic() + 120
        while onlines(rec) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert onlines(rec) == 2 and proc.poll() is None
        # ... and the same command replayed after the restart does not run again
        rec.publish(f"{BASE}/cmd/restart", restart)
        dup = rec.wait_json(f"{BASE}/reply/restart", lambda d: d.get("id") == "live-restart" and d.get("duplicate"))
        assert dup["id"] == "live-restart"
        rec.publish(f"{BASE}/cmd/health", {"id": "h2", "issued_at": time.time()})
        assert rec.wait_json(f"{BASE}/reply/health", lambda d: d.get("id") == "h2")["ok"]
        assert onlines(rec) == 2 and proc.poll() is None
    finally:
        for topic in (f"{FLEET}/cmd/health", f"{BASE}/cmd/health", f"{BASE}/cmd/restart"):
            poison.publish(topic, b"", retain=True)
        poison.close()
        rec.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
