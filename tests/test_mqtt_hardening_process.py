"""Process hygiene: the agent exits promptly and cleanly on SIGTERM, every
time, and writes nothing to the home directory (OpenVINO's telemetry stays
off)."""
from __future__ import annotations

import os
import signal
import socket
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
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(180)
        for _ in range(3):
            proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "HOME": str(home), "NOTIFY_SOCKET": str(notify)})
            try:
                while b"READY=1" not in sock.recv(4096):  # event-driven: READY after the first enhanced frame
                    pass
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=60) == 0
                print(f"exit after SIGTERM: {time.monotonic() - t0:.2f} s")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
    assert list(home.iterdir()) == []
