from __future__ import annotations

import json


from calibration.gate import run_gate
from calibration.recalibrate import main as recalibrate_main
from edge_agent.runtime.bundle import load_bundle

from conftest import night_image


def test_gate_passes_a_good_int8_model(tiny_bundle):
    night = [night_image(64, 96, s) for s in range(2)]
    result = run_gate(tiny_bundle, night, clean=[night_image(64, 96, s + 10) for s in range(2)])
    assert result.passed, result.reasons
    assert set(result.per_runtime) == {"onnxruntime", "openvino"}
    assert all(r["agreement_psnr"] > 32 for r in result.per_runtime.values())


def test_gate_refuses_an_int8_model_that_drifts(tiny_bundle, tmp_path):
    """The refusal path: a margin no INT8 model can meet is refused with its reason."""
    result = run_gate(tiny_bundle, [night_image(64, 96, 1)], min_agreement_db=200.0)
    assert not result.passed and "agrees with fp32" in result.reasons[0]


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
