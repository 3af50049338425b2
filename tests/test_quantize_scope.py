"""Which convolutions run in INT8: the stem and the whole-frame context branch
stay in float in both quantisers (calibration/quantize.py says why), every
other convolution reads a quantised activation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calibration.quantize import quantize_onnxruntime, quantize_openvino  # noqa: E402
from export.network import Denoiser, NetConfig  # noqa: E402
from export.onnx_export import export_onnx  # noqa: E402

TINY_NET = {"unshuffle": 2, "channels": [8, 16], "blocks": [1, 1], "emb_dim": 16}


def _is_float_scope(name: str) -> bool:
    return "/net/stem/" in name or "/net/context/" in name


@pytest.fixture(scope="module")
def fp32_and_inputs(tmp_path_factory) -> tuple[Path, list[dict[str, np.ndarray]]]:
    torch.manual_seed(0)
    model = Denoiser(NetConfig(**TINY_NET, global_branch=8, exposure_norm=True)).eval()
    fp32 = export_onnx(model, tmp_path_factory.mktemp("scope") / "model_fp32.onnx")
    rng = np.random.default_rng(0)
    # the 1-step student's input: noise at sigma 40 beside a night frame in [0, 1]
    inputs = [{"x": (40 * rng.standard_normal((1, 3, 64, 64))).astype(np.float32),
               "sigma": np.array([40.0], np.float32),
               "cond": (0.2 * rng.random((1, 3, 64, 64))).astype(np.float32)} for _ in range(4)]
    return fp32, inputs


def test_onnxruntime_keeps_stem_and_context_in_float(fp32_and_inputs, tmp_path):
    import onnx

    fp32, inputs = fp32_and_inputs
    graph = onnx.load(str(quantize_onnxruntime(fp32, tmp_path / "model_int8.onnx", inputs))).graph
    producer = {out: node for node in graph.node for out in node.output}
    reads_int8 = {node.name: getattr(producer.get(node.input[0]), "op_type", None) == "DequantizeLinear"
                  for node in graph.node if node.op_type == "Conv"}
    assert "/net/stem/Conv" in reads_int8 and any("/net/context/" in n for n in reads_int8)
    assert {n for n, q in reads_int8.items() if not q} == {n for n in reads_int8 if _is_float_scope(n)}


def test_openvino_keeps_stem_and_context_in_float(fp32_and_inputs, tmp_path):
    import openvino as ov

    fp32, inputs = fp32_and_inputs
    model = ov.Core().read_model(str(quantize_openvino(fp32, tmp_path / "ov" / "model_int8.xml", inputs)))
    reads_int8 = {op.get_friendly_name(): op.input_value(0).get_node().get_type_name() == "FakeQuantize"
                  for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"}
    assert any("/net/stem/" in n for n in reads_int8) and any("/net/context/" in n for n in reads_int8)
    assert {n for n, q in reads_int8.items() if not q} == {n for n in reads_int8 if _is_float_scope(n)}
