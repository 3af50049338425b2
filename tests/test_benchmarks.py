"""The benchmark scripts run on a tiny setting, so they cannot rot."""
from __future__ import annotations

import json

from benchmarks.latency import main as latency_main


def test_latency_benchmark_quick(tiny_bundle, tmp_path):
    out = tmp_path / "latency"
    assert latency_main(["--model", str(tiny_bundle), "--quick", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    backends = {r["backend"] for r in result["rows"] if "error" not in r}
    assert backends == {"openvino", "onnxruntime"}
    assert result["matmul_peak_gflops"] > 0 and "gamma_wb_nlm" in result["peers_ms"]["160x96"]
    row = next(r for r in result["rows"] if "error" not in r)
    assert row["gmac_per_frame"] > 0 and 0 < row["efficiency_vs_fp32_peak"] < 1
    assert "| openvino | CPU | int8 |" in out.with_suffix(".md").read_text()


def test_agent_latency_benchmark_quick(tiny_bundle, tmp_path):
    import shutil

    import pytest

    from benchmarks.agent_latency import main as agent_latency_main

    if shutil.which("mosquitto") is None and not __import__("pathlib").Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    out = tmp_path / "agent.json"
    assert agent_latency_main(["--model", str(tiny_bundle), "--resolution", "96x64", "--seconds", "3",
                               "--backend", "onnxruntime", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] > 5 and result["e2e_p50_ms"] >= result["inference_p50_ms"] > 0
