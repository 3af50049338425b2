"""What `pip install .` gives: OpenVINO as the default runtime with ONNX
Runtime an extra (the main job runs without it; doctor says which extra to
install), progress through tqdm on a terminal and plain lines in a log,
health figures through psutil."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import cv2

from edge_agent.agent.health import CpuMeter, rss_mb, temperature_c
from edge_agent.progress import Progress

from conftest import ROOT, night_image

WITHOUT_ORT = "import sys; sys.modules['onnxruntime'] = None\nfrom edge_agent.cli import main\nraise SystemExit(main({argv!r}))"


def run_without_onnxruntime(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_ORT.format(argv=list(argv))], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_the_main_job_runs_without_onnxruntime(tiny_bundle, tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), night_image(40, 40)[..., ::-1])
    r = run_without_onnxruntime("enhance", str(src), "-o", str(tmp_path / "o.png"), "--model", str(tiny_bundle))
    assert r.returncode == 0, r.stderr
    assert "openvino" in r.stdout and (tmp_path / "o.png").exists()
    r = run_without_onnxruntime("doctor", "--model", str(tiny_bundle), "--json")
    assert r.returncode == 0, r.stderr
    runtimes = json.loads(r.stdout)["runtimes"]
    assert "pip install" in runtimes["onnxruntime"]["error"] and "CPU" in runtimes["openvino"]["hardware"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_tqdm_on_a_terminal_and_lines_in_a_log():
    tty = Tty()
    bar = Progress(3, "enhance", stream=tty)
    for _ in range(3):
        bar.update()
    bar.close()
    shown = tty.getvalue()
    assert "3/3" in shown and ("it/s" in shown or "s/it" in shown)
    log = io.StringIO()
    bar = Progress(3, "enhance", stream=log)
    for _ in range(3):
        bar.update()
    bar.close()
    assert log.getvalue().startswith("enhance 3/3 ") and "\r" not in log.getvalue()


def test_health_figures_come_from_psutil():
    meter = CpuMeter()
    sum(range(200000))
    assert meter.read() >= 0.0
    assert rss_mb() > 10
    t = temperature_c()
    assert t is None or -40 < t < 150
