"""The wheel carries the runtime and its default model, and nothing named
`export` or `calibration` lands in a runtime user's site-packages."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_contents(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path), "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert "edge_agent" in top
    assert not top & {"export", "calibration", "tests", "benchmarks"}
    assert "edge_agent/runtime/backends/openvino_backend.py" in names
    shipped = ROOT / "edge_agent" / "models" / "default"
    if (shipped / "manifest.json").exists():
        for f in shipped.rglob("*"):
            if f.is_file():
                assert f"edge_agent/models/default/{f.relative_to(shipped).as_posix()}" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "edge-agent = edge_agent.cli:main" in entry
