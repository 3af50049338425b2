"""Process hygiene: the agent exits promptly and cleanly on SIGTERM, every
time, and writes nothing to the home directory (OpenVINO's telemetry stays
off)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml

from conftest import ROOT, write_video


def test_sigterm_exits_promptly_every_time_and_home_stays_empty(tmp_path):
    video = write_video(tmp_path / "v.avi", 8)
    config = tmp_path / "a.yaml"
    config.write_text(yaml.safe_dump({"camera": {"source": str(video), "loop": True},
                                      "model": {"backend": "openvino", "precision": "fp32",
                                                "cache_dir": str(tmp_path / "cache")},
                                      "state_dir": str(tmp_path / "state")}))
    home = tmp_path / "home"
    home.mkdir()
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"})
        assert proc.stderr is not None
        for line in proc.stderr:  # event-driven: wait until the camera is streaming
            if "connected" in line:
                break
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        print(f"exit after SIGTERM: {time.monotonic() - t0:.2f} s")
    assert list(home.iterdir()) == []
