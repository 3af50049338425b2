"""Real ONNX Runtime and OpenVINO sessions on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest

from edge_agent.runtime.backends import SessionSpec, get_backend
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.errors import UserError

from conftest import night_image

# fp32: both runtimes compute the same graph in float32.
FP32_TOLERANCE = 1e-3
# int8: different quantisers (ORT QDQ vs NNCF) and kernels; mean |difference| in [0, 1] output.
INT8_MEAN_TOLERANCE = 0.005


def inputs(seed: int = 0, h: int = 64, w: int = 96):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((1, 3, h, w), dtype=np.float32) * 2, np.array([2.0], np.float32),
            rng.random((1, 3, h, w), dtype=np.float32))


def test_fp32_runtimes_agree_on_the_network(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    spec = SessionSpec("fp32", "CPU", 1, 64, 96)
    x, s, c = inputs()
    ort_out = get_backend("onnxruntime").open(bundle, spec)(x, s, c)
    ov_out = get_backend("openvino").open(bundle, spec)(x, s, c)
    assert np.abs(ort_out - ov_out).max() < FP32_TOLERANCE


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_enhanced_frames_agree_across_runtimes(tiny_bundle, precision):
    bundle = load_bundle(tiny_bundle)
    frame = night_image(72, 100, 1)
    outs = [Enhancer(bundle, EnhanceSettings(backend=b, precision=precision)).enhance_float(frame, 0)
            for b in ("onnxruntime", "openvino")]
    diff = np.abs(outs[0] - outs[1])
    assert diff.mean() < (FP32_TOLERANCE if precision == "fp32" else INT8_MEAN_TOLERANCE)


def test_int8_is_close_to_fp32(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    frame = night_image(64, 64, 2)
    fp32 = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32")).enhance_float(frame, 0)
    for backend in ("onnxruntime", "openvino"):
        int8 = Enhancer(bundle, EnhanceSettings(backend=backend, precision="int8")).enhance_float(frame, 0)
        assert np.abs(int8 - fp32).mean() < 0.005


def test_auto_prefers_openvino_and_unknown_names_are_refused():
    assert get_backend("auto").name == "openvino"
    with pytest.raises(UserError, match="backend 'tensorflow' is not supported; allowed: auto, openvino, onnxruntime"):
        get_backend("tensorflow")


def test_device_selection(tiny_bundle, tmp_path):
    bundle = load_bundle(tiny_bundle)
    ov = get_backend("openvino")
    assert "CPU" in ov.devices() and "AUTO" in ov.devices()
    assert ov.check_device("auto:cpu") == "AUTO:CPU"
    with pytest.raises(UserError, match="openvino device 'TPU' is not supported; allowed: CPU"):
        ov.check_device("tpu")
    if "NPU" not in ov.core.available_devices:
        with pytest.raises(UserError, match="openvino device 'NPU'"):
            ov.open(bundle, SessionSpec("int8", "NPU", 1, 64, 64))
    with pytest.raises(UserError, match="onnxruntime device 'GPU'"):
        get_backend("onnxruntime").open(bundle, SessionSpec("fp32", "GPU", 1, 64, 64))
    # AUTO and a compiled-model cache directory work for real on this CPU
    cache = tmp_path / "ovcache"
    out = ov.open(bundle, SessionSpec("int8", "AUTO", 1, 64, 64, cache_dir=cache))(*inputs(h=64, w=64))
    assert out.shape == (1, 3, 64, 64)
    assert any(cache.iterdir()), "OpenVINO wrote no compiled blob to the cache directory"


def test_npu_gets_the_bundles_static_tile(tiny_bundle, monkeypatch):
    """No NPU here: a stand-in backend that reports one checks the shape
    policy (only the bundle's static tile is ever compiled for an NPU)."""
    bundle = load_bundle(tiny_bundle)
    ov = get_backend("openvino")
    shapes = []
    monkeypatch.setattr(ov, "open", lambda b, spec: shapes.append((spec.batch, spec.height, spec.width))
                        or (lambda x, s, c: x * 0))
    enh = Enhancer(bundle, EnhanceSettings(backend="openvino", device="NPU", precision="int8", batch=2))
    assert enh.enhance(night_image(150, 200)).shape == (150, 200, 3)
    assert shapes == [(2, 64, 64)]
    cpu = Enhancer(bundle, EnhanceSettings(backend="openvino", device="CPU", precision="int8"))
    assert cpu.grid(150, 200).tile_h == 152 and cpu.grid(150, 200).tile_w == 200  # whole frame, padded
