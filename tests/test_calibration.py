from __future__ import annotations

import json

from calibration.gate import DEFAULT_MIN_AGREEMENT_DB, run_gate
from calibration.recalibrate import main as recalibrate_main
from edge_agent.runtime.bundle import load_bundle

from conftest import night_image
from tiny_onnx import with_drifted_int8


def test_gate_passes_a_good_int8_model(tiny_bundle):
    night = [night_image(64, 96, s) for s in range(2)]
    result = run_gate(tiny_bundle, night, clean=[night_image(64, 96, s + 10) for s in range(2)])
    assert result.passed, result.reasons
    assert set(result.per_runtime) == {"onnxruntime", "openvino"}
    assert all(r["agreement_psnr"] > 32 for r in result.per_runtime.values())


def test_gate_refuses_an_int8_model_that_drifts(tiny_bundle, tmp_path):
    """A model that really drifts: the INT8 files are quantised from the same
    network with its convolution weights perturbed by 30 %, the FP32 file is
    unchanged. The gate at its default thresholds refuses both runtimes, with
    the measured agreement in the reason; the same frames pass on the
    unperturbed bundle (test above)."""
    drifted = with_drifted_int8(tiny_bundle, tmp_path / "drifted", drift=0.3)
    night = [night_image(64, 96, s) for s in range(2)]
    result = run_gate(drifted, night, clean=[night_image(64, 96, s + 10) for s in range(2)])
    assert not result.passed
    assert all(r["agreement_psnr"] < DEFAULT_MIN_AGREEMENT_DB for r in result.per_runtime.values()), result.per_runtime
    assert [r.split()[0] for r in result.reasons if "agrees with fp32" in r] == ["onnxruntime", "openvino"]
    assert run_gate(tiny_bundle, night).passed  # the gate, not the frames, makes the difference


def test_recalibrate_on_a_video(tiny_bundle, video_file, tmp_path, capsys):
    out = tmp_path / "calibrated"
    assert recalibrate_main(["--bundle", str(tiny_bundle), "--source", str(video_file), "--out", str(out),
                             "--frames", "6"]) == 0
    bundle = load_bundle(out)
    assert bundle.version.endswith("+cal") and bundle.manifest["provenance"]["calibration"]["frames"] >= 1
    assert json.loads(capsys.readouterr().out)["passed"]


def test_recalibrate_refusal_leaves_nothing(tiny_bundle, video_file, tmp_path, capsys):
    out = tmp_path / "calibrated"
    rc = recalibrate_main(["--bundle", str(tiny_bundle), "--source", str(video_file), "--out", str(out),
                           "--frames", "6", "--min-agreement-db", "500"])
    assert rc != 0 and not out.exists()
    assert "refused by the accuracy gate" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
