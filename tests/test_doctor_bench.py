"""`edge-agent doctor` and `bench` as a developer benchmarking target
hardware expects (OpenVINO's benchmark_app and hello_query_device): device
names and capabilities, absent vs unsupported GPU/NPU, ONNX Runtime's
providers; compile time and first inference apart from a steady state timed
by count (-n) or time (-t), with min/median/mean/p95/max and throughput,
latency and throughput modes, JSON."""
from __future__ import annotations

import json

import pytest

from test_cli_footage import run_cli


def test_doctor_names_devices_capabilities_and_drivers(tiny_bundle):
    r = run_cli("doctor", "--model", str(tiny_bundle), "--json")
    assert r.returncode == 0, r.stderr
    ov = json.loads(r.stdout)["runtimes"]["openvino"]
    cpu = ov["hardware"]["CPU"]
    assert cpu["name"] and "FP32" in cpu["capabilities"]
    assert "AUTO" not in ov["hardware"] and "AUTO" in ov["virtual"]
    for fam in ("GPU", "NPU"):
        if fam not in ov["hardware"]:
            assert fam in ov["unsupported"] or ("absent" in ov["absent"][fam] and "driver" in ov["absent"][fam]
                                                or "runtime" in ov["absent"][fam])
    ort = json.loads(r.stdout)["runtimes"]["onnxruntime"]
    assert "CPUExecutionProvider" in ort["providers"] and "CPU" in ort["devices"]
    if "CUDAExecutionProvider" not in ort["providers"]:
        assert "onnxruntime-gpu" in ort["not_in_this_build"]["CUDAExecutionProvider"]
    text = run_cli("doctor", "--model", str(tiny_bundle)).stdout
    assert "virtual devices" in text and cpu["name"] in text


def test_bench_by_count_reports_benchmark_app_fields(tiny_bundle):
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "-n", "25", "--warmup", "1", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["count"] == 25 and b["mode"] == "latency" and b["streams"] == 1
    assert b["compile_ms"] > 0 and b["first_inference_ms"] > 0
    assert 0 < b["min_ms"] <= b["median_ms"] <= b["p95_ms"] <= b["max_ms"] and b["min_ms"] <= b["mean_ms"] <= b["max_ms"]
    assert b["throughput_fps"] > 0 and b["performance_hint"] == "LATENCY" and b["duration_s"] > 0


def test_bench_by_time_throughput_mode_and_text(tiny_bundle):
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "-t", "1.5", "--mode", "throughput",
                "--streams", "2", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["mode"] == "throughput" and b["streams"] == 2 and b["threads_per_stream"] >= 1
    assert b["duration_s"] >= 1.5 and b["count"] >= 2
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "-n", "3")
    assert r.returncode == 0, r.stderr
    for field in ("Compile the model:", "First inference:", "Count:              3 frames", "Duration:", "Median",
                  "Average", "Min", "Max", "p95 n/a (under 20 frames)", "Throughput:"):
        assert field in r.stdout, field


@pytest.mark.parametrize("args, expected", [(["--frames", "0"], "0 is not allowed"), (["-t", "0"], "more than 0"),
                                            (["-n", "-2"], "negative"), (["--warmup", "-1"], "negative")])
def test_bench_refuses_empty_runs(args, expected):
    r = run_cli("bench", *args)
    assert r.returncode == 2 and expected in r.stderr and r.stderr.count("\n") == 1
