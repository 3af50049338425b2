"""Agent soak: minutes of streaming with camera drops and broker restarts
injected; the agent keeps enhancing and its memory does not grow.
EDGE_SOAK_SECONDS sets the length (default 150)."""
from __future__ import annotations

import os
import time

import pytest
import yaml

from conftest import ROOT  # noqa: F401
from mjpeg_server import MjpegCamera
from mqtt_fixtures import Recorder, free_port
from test_agent import BASE, agent_config, start_agent

SOAK_S = float(os.environ.get("EDGE_SOAK_SECONDS", "150"))


@pytest.mark.slow
def test_soak_with_faults_and_no_memory_growth(tiny_bundle, tmp_path, broker):
    camera = MjpegCamera(free_port(), fps=15).start()
    config = agent_config(tmp_path, tiny_bundle, broker.port)
    cfg = yaml.safe_load(config.read_text())
    cfg["camera"] = {"source": camera.url, "watchdog_s": 3, "reconnect_initial_s": 0.5, "reconnect_max_s": 2}
    config.write_text(yaml.safe_dump(cfg))
    proc = start_agent(config)
    rec = Recorder(broker.port, f"{BASE}/health")
    samples: list[tuple[float, float, int]] = []
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
                        rec = Recorder(broker.port, f"{BASE}/health")
            for payload in rec.payloads(f"{BASE}/health")[len(samples):]:
                import json
                h = json.loads(payload)
                samples.append((time.monotonic() - start, h["memory_mb"], h["processed_frames"]))
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(1)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        rec.close()
        camera.stop()
    after_warmup = [s for s in samples if s[0] > SOAK_S * 0.2]
    assert len(after_warmup) > 10
    quarter = max(1, len(after_warmup) // 4)
    early = max(m for _, m, _ in after_warmup[:quarter])
    late = max(m for _, m, _ in after_warmup[-quarter:])
    assert late <= early * 1.10 + 5, f"memory grew from {early} MB to {late} MB"
    assert samples[-1][2] > samples[len(samples) // 2][2]  # still enhancing after the faults
