"""Agent soak: minutes of streaming with camera drops, broker restarts and
poison messages (retained and live: deep nesting, huge numbers, bad chunk
indices, oversized payloads) injected; the agent keeps enhancing, keeps
answering and its memory does not grow. EDGE_SOAK_SECONDS sets the length
(default 150); EDGE_SOAK_REPORT=<file> writes the figures as JSON
(benchmarks/soak_report.md has the 10-minute run)."""
from __future__ import annotations

import json
import os
import time

from pathlib import Path

import pytest
import yaml

from conftest import ROOT  # noqa: F401
from mjpeg_server import MjpegCamera
from mqtt_fixtures import Recorder, free_port
from test_agent import BASE, agent_config, start_agent

SOAK_S = float(os.environ.get("EDGE_SOAK_SECONDS", "150"))
POISON = [("cctv/fleet/cmd/health", b"[" * 100_000), (f"{BASE}/cmd/set_steps", b'{"id":"p","issued_at":' + b"9" * 5000 + b"}"),
          (f"{BASE}/cmd/enhance", b'{"id":"n","issued_at":NaN}'), (f"{BASE}/update/t/chunk/\u00b2", b"x"),
          (f"{BASE}/cmd/health", b"x" * 300_000), (f"{BASE}/cmd/restart", b'{"id":"old","issued_at":1}')]


def poison(rec: Recorder, retain: bool) -> int:
    for topic, payload in POISON:
        rec.publish(topic, payload, retain=retain)
    return len(POISON)


@pytest.mark.slow
def test_soak_with_faults_and_no_memory_growth(tiny_bundle, tmp_path, broker):
    camera = MjpegCamera(free_port(), fps=15).start()
    config = agent_config(tmp_path, tiny_bundle, broker.port)
    cfg = yaml.safe_load(config.read_text())
    cfg["camera"] = {"source": camera.url, "watchdog_s": 3, "reconnect_initial_s": 0.5, "reconnect_max_s": 2}
    config.write_text(yaml.safe_dump(cfg))
    proc = start_agent(config)
    rec = Recorder(broker.port, f"{BASE}/#")
    poisoned = poison(rec, retain=True)  # waiting for the agent at every (re)connect
    samples: list[tuple[float, float, int]] = []
    answered = read = 0
    start = time.monotonic()
    faults = {0.3: "camera", 0.5: "broker", 0.7: "camera", 0.85: "broker"}
    try:
        while (elapsed := time.monotonic() - start) < SOAK_S:
            for at in sorted(faults):
                if elapsed >= at * SOAK_S:
                    kind = faults.pop(at)
                    if kind == "camera":
                        camera.stop()
                        time.sleep(3)
                        camera.start()
                    else:
                        rec.close()
                        broker.stop()
                        time.sleep(3)
                        broker.start()
                        answered += len(rec.payloads(f"{BASE}/reply/health"))
                        rec, read = Recorder(broker.port, f"{BASE}/#"), 0
                        poisoned += poison(rec, retain=True)
            if int(elapsed) % 10 == 0:
                poisoned += poison(rec, retain=False)
                rec.publish(f"{BASE}/cmd/health", {"id": f"h{elapsed:.0f}", "issued_at": time.time()})
            for payload in rec.payloads(f"{BASE}/health")[read:]:
                read += 1
                h = json.loads(payload)
                samples.append((time.monotonic() - start, h["memory_mb"], h["processed_frames"]))
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(1)
    finally:
        answered += len(rec.payloads(f"{BASE}/reply/health"))
        proc.kill()
        proc.wait(timeout=10)
        rec.close()
        camera.stop()
    after_warmup = [s for s in samples if s[0] > SOAK_S * 0.2]
    assert len(after_warmup) > 10
    quarter = max(1, len(after_warmup) // 4)
    early = max(m for _, m, _ in after_warmup[:quarter])
    late = max(m for _, m, _ in after_warmup[-quarter:])
    report = {"seconds": SOAK_S, "poison_messages": poisoned, "health_replies": answered, "faults": 4,
              "memory_early_mb": early, "memory_late_mb": late, "growth_pct": round(100 * (late - early) / early, 2),
              "frames": samples[-1][2]}
    print(f"soak: {report}")
    if os.environ.get("EDGE_SOAK_REPORT"):
        Path(os.environ["EDGE_SOAK_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")
    assert late <= early * 1.10 + 5, f"memory grew from {early} MB to {late} MB"
    assert answered > 0
    assert samples[-1][2] > samples[len(samples) // 2][2]  # still enhancing after the faults
