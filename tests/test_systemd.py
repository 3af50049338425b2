"""The unit verifies, scores 1.5 or better, stops a crash loop, bounds its
resources, and the installer places it (with the recovery unit)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

UNIT = ROOT / "systemd" / "edge-agent.service"
RECOVERY = ROOT / "systemd" / "edge-agent-recovery.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


@needs_analyze
def test_unit_verifies(tmp_path):
    # verify checks that ExecStart exists: point it at a launcher of this checkout's agent
    exe = tmp_path / "edge-agent"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m edge_agent \"$@\"\n")
    exe.chmod(0o755)
    unit = tmp_path / "edge-agent.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-agent/venv/bin/edge-agent", str(exe)))
    (tmp_path / RECOVERY.name).write_text(RECOVERY.read_text())
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@needs_analyze
def test_security_score_at_most_1_5():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)], capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout).group(1))
    assert score <= 1.5, r.stdout[-2000:]


def test_unit_has_the_required_settings():
    text = UNIT.read_text()
    for setting in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "DynamicUser=yes", "StateDirectory=",
                    "CacheDirectory=", "LoadCredential=", "DeviceAllow=char-video4linux", "DeviceAllow=char-drm",
                    "DeviceAllow=char-accel", "StartLimitBurst=", "StartLimitIntervalSec=",
                    "OnFailure=edge-agent-recovery.service", "MemoryMax=", "TasksMax=", "TimeoutStopSec=",
                    "RestartForceExitStatus=75"):
        assert setting in text, setting
    assert "systemctl start" in RECOVERY.read_text() and "reset-failed" in RECOVERY.read_text()


def test_installer_into_an_image_root(tmp_path):
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed")
    r = subprocess.run(["bash", str(ROOT / "systemd" / "install.sh"), "--root", str(tmp_path), "--skip-python"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "etc/systemd/system/edge-agent.service").read_text() == UNIT.read_text()
    assert (tmp_path / "etc/systemd/system/edge-agent-recovery.service").read_text() == RECOVERY.read_text()
    assert (tmp_path / "etc/systemd/system/multi-user.target.wants/edge-agent.service").is_symlink()
    assert (tmp_path / "etc/edge-agent/agent.yaml").exists()
    assert (tmp_path / "etc/edge-agent/mqtt-password").stat().st_mode & 0o777 == 0o600
    bad = subprocess.run(["bash", str(ROOT / "systemd" / "install.sh"), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown option")
