"""Export parity (torch = ONNX Runtime = OpenVINO on the same inputs) and the
one-command pipeline on a tiny setting."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from edge_agent.runtime.backends import SessionSpec, get_backend  # noqa: E402
from edge_agent.runtime.bundle import load_bundle  # noqa: E402
from export.network import Denoiser, NetConfig  # noqa: E402
from export.onnx_export import export_onnx  # noqa: E402

from test_training import TINY_NET, dataset  # noqa: E402,F401

PARITY_ATOL = 1e-4


V2_PARTS = {"global_branch": 8, "exposure_norm": True}


@pytest.mark.parametrize("extra", [{}, {"refine": 4}, {"refine": 4, "refine_sees_noise": False}, V2_PARTS,
                                   {**V2_PARTS, "refine": 4, "refine_sees_noise": False, "refine_sees_gained": True}],
                         ids=["unet", "unet+full-res-refine", "unet+refine-without-noise", "v2-context",
                              "v2+refine-on-the-gained-frame"])
def test_torch_onnxruntime_openvino_agree(tmp_path, extra):
    torch.manual_seed(1)
    model = Denoiser(NetConfig(**TINY_NET, **extra))
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_(0, 0.1)
    path = export_onnx(model, tmp_path / "model_fp32.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 48, 80), dtype=np.float32) * 3
    cond = rng.random((2, 3, 48, 80), dtype=np.float32)
    sigma = np.array([3.0, 0.2], np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(sigma), torch.from_numpy(cond)).numpy()

    class OneFile:  # the backends open models through a bundle; this one holds just the ONNX file
        root = tmp_path
        precisions = ["fp32"]

        @staticmethod
        def model_path(precision, fmt):
            return path if fmt == "onnx" else None

    spec = SessionSpec("fp32", "CPU", 2, 48, 80)
    for backend in ("onnxruntime", "openvino"):
        out = get_backend(backend).open(OneFile, spec)(x, sigma, cond)
        assert np.abs(out - ref).max() < PARITY_ATOL, backend


def test_one_command_pipeline(dataset, tmp_path, monkeypatch):  # noqa: F811
    from export.pipeline import main as pipeline

    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(yaml.safe_dump({"data": str(dataset), "out": str(tmp_path / "t"), "net": TINY_NET,
                                       "iterations": 3, "batch": 2, "crop": 64, "lr_warmup": 1}))
    student = tmp_path / "student.yaml"
    student.write_text(yaml.safe_dump({"data": str(dataset), "teacher": str(tmp_path / "t" / "last.pt"),
                                       "out": str(tmp_path / "s"), "iterations": 2, "batch": 2, "crop": 64,
                                       "tone_anchor": 8.0}))  # trains through the anchor, the bundle inherits it
    out = tmp_path / "bundle"
    assert pipeline(["--teacher-config", str(teacher), "--student-config", str(student), "--out", str(out),
                     "--eval-limit", "1", "--calibration-frames", "2"]) == 0
    bundle = load_bundle(out)
    assert bundle.sampler.steps == [2, 3, 4] and set(bundle.precisions) == {"fp32", "int8"}
    m = bundle.manifest
    assert m["provenance"]["teacher"]["step"] == 3 and m["provenance"]["student"]["step"] == 2
    assert "2_step" in m["metrics"] and m["reference"]["tolerance"]["int8"] > 0
    assert bundle.model_path("int8", "openvino").exists()
    assert json.loads((out / "manifest.json").read_text())["version_code"] == 1
    assert bundle.temporal is not None and m["settings"]["steps"] == 2  # the video filter ships with the model
    assert m["provenance"]["student"]["history"][-1]["config"]["iterations"] == 2
    assert m["sampler"]["tone_anchor"] == 8.0 and "tone_anchor" in m["requires"]
    assert "judged through the 8 px tone anchor" in m["provenance"]["method"]
