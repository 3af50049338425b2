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


def test_openvino_sessions_take_the_specs_performance_hint(tiny_bundle):
    import openvino.properties as props
    import openvino.properties.hint as hints

    from edge_agent.errors import UserError
    from edge_agent.runtime.backends import SessionSpec, get_backend
    from edge_agent.runtime.bundle import load_bundle

    backend, bundle = get_backend("openvino"), load_bundle(tiny_bundle)
    spec = SessionSpec("fp32", "CPU", 1, 64, 96)
    assert spec.hint == "latency"  # what the agent runs
    def mode(compiled) -> str:  # the compiled model reports it as text ('LATENCY'), some versions as the enum
        return str(compiled.get_property(hints.performance_mode)).rsplit(".", 1)[-1]

    assert mode(backend.compile(bundle, spec)) == "LATENCY"
    compiled = backend.compile(bundle, SessionSpec("fp32", "CPU", 1, 64, 96, hint="throughput"))
    assert mode(compiled) == "THROUGHPUT"
    queue = backend.open_queue(bundle, SessionSpec("fp32", "CPU", 1, 64, 96, hint="throughput"))
    assert queue.requests == queue.optimal_requests == compiled.get_property(props.optimal_number_of_infer_requests) >= 1
    with pytest.raises(UserError, match="allowed: latency, throughput"):
        backend.compile(bundle, SessionSpec("fp32", "CPU", 1, 64, 96, hint="fastest"))


def test_bench_throughput_hint_runs_infer_requests_concurrently(tiny_bundle):
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "--backend", "openvino", "-n", "5",
                "--hint", "throughput", "--requests", "3", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["hint"] == "throughput" and b["performance_hint"] == "THROUGHPUT" and b["mode"] == "throughput"
    assert b["infer_requests"] == 3 and b["optimal_infer_requests"] >= 1 and b["latency_unit"] == "inference"
    assert b["inferences_per_frame"] >= 1 and b["count"] == 5 * b["inferences_per_frame"] and b["frames"] == 5
    assert b["throughput_fps"] > 0 and b["inferences_per_s"] > b["throughput_fps"] * 0.99
    assert 0 < b["min_ms"] <= b["median_ms"] <= b["max_ms"]
    timed = json.loads(run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "--backend", "openvino",
                               "-t", "1", "--hint", "throughput", "--json").stdout)
    assert timed["infer_requests"] == timed["optimal_infer_requests"] and timed["duration_s"] >= 1
    text = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "--backend", "openvino", "-n", "2",
                   "--hint", "throughput").stdout
    assert "PERFORMANCE_HINT THROUGHPUT" in text and "OPTIMAL_NUMBER_OF_INFER_REQUESTS" in text and "inferences/s" in text


def test_bench_hint_is_recorded_and_ignored_by_onnxruntime(tiny_bundle):
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "--backend", "onnxruntime", "-n", "2",
                "--hint", "throughput", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["hint"] == "throughput" and b["performance_hint"] is None and b["latency_unit"] == "frame"
    latency = json.loads(run_cli("bench", "--model", str(tiny_bundle), "--resolution", "96x64", "--backend", "openvino",
                                 "-n", "2", "--json").stdout)
    assert latency["hint"] == "latency" and latency["performance_hint"] == "LATENCY"
    assert "ONNX Runtime has no performance hint" in " ".join(run_cli("bench", "--help").stdout.split())
