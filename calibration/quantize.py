"""INT8 post-training quantisation of the exported denoiser.

* ONNX Runtime: static QDQ quantisation (per-channel int8 weights, uint8
  activations) -> ``model_int8.onnx``, read by ONNX Runtime (and OpenVINO).
* OpenVINO: NNCF post-training quantisation of the same FP32 graph ->
  ``openvino/model_int8.xml/.bin``, which OpenVINO's CPU/GPU/NPU plugins run
  with their INT8 kernels.

Both calibrate on *the denoiser's own inputs during sampling*: each
calibration frame is run through the FP32 sampler at every supported step
count, and every (x, sigma, cond) the network sees is recorded. Quantisation
ranges then match what the network meets in the field, at every noise level.
"""
from __future__ import annotations

import contextlib
import logging
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from edge_agent.runtime.sampler import SAMPLERS, Denoise, seeded_noise

Inputs = dict[str, np.ndarray]

# Only convolutions run in INT8: they hold >99% of the arithmetic. The EDM
# preconditioning (c_in x, c_skip x + c_out F) and the noise-level MLP stay in
# float: x spans +-160 at sigma 40 but +-1 at sigma 0.1, so one 8-bit scale
# for it would wipe out the small-sigma steps that set the final detail.
QUANTIZED_OPS = {"onnx": ("Conv",)}
# The whole-frame context branch (network.FrameContext) stays in float: it costs
# nothing (1/8 resolution) but its output steers every FiLM layer, so its
# quantisation error would become a global colour/brightness shift.
# The stem stays in float too: its input concatenates the scaled noisy image
# (about +-4 at the 1-step student's sigma 40) with the night frame and its gained
# view (+-1), and one 8-bit scale per tensor spends most of its levels on the
# noise, leaving the night frame ~4x coarser than an 8-bit image. Measured
# (session 15, 0.5.0, benchmarks.native_quality --quick, OpenVINO): real CCTV
# INT8 21.30 dB against FP32 21.68; stem in float 21.80; more or larger
# calibration crops, a float head, full bias correction: 21.29-21.34. The stem is
# 8 % of the MACs; 1280x720 with the filter went from 271 to 281 ms.
FLOAT_SCOPE_PATTERN = ".*/(context|stem)/.*"
# NNCF also quantises the inputs of pooling, means and resizes unless told not
# to. Those ops estimate the frame's exposure gain (network.py, the exposure-normalised input) and
# feed the context branch: quantised, the gain is off and the whole frame's
# brightness with it. Measured (benchmarks.native_quality --quick, 0.3.0
# graph): dusk_led on real CCTV 17.1 dB with them quantised, 20.3 dB in float
# (FP32: 20.0); other conditions unchanged.
FLOAT_OPS_OPENVINO = ("Multiply", "Add", "Subtract", "Divide", "Power", "Sqrt", "MatMul", "Log", "Concat",
                      "AvgPool", "ReduceMean", "Interpolate")


def record_inputs(denoise: Denoise, sampler: str, sigmas_by_steps: dict[int, Iterable[float]],
                  frames: Iterable[np.ndarray], seed: int = 0) -> list[Inputs]:
    """Run the FP32 sampler on each (H, W, 3) uint8 frame and keep every
    network input it produces."""
    recorded: list[Inputs] = []

    def spy(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
        recorded.append({"x": x.copy(), "sigma": sigma.copy(), "cond": cond.copy()})
        return denoise(x, sigma, cond)

    for frame in frames:
        cond = (frame.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        for sigmas in sigmas_by_steps.values():
            SAMPLERS[sampler](spy, np.ascontiguousarray(cond), list(sigmas), seeded_noise(seed, cond.shape))
    return recorded


def crops_for_calibration(frames: Iterable[np.ndarray], tile: tuple[int, int], per_frame: int = 2,
                          seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    crops = []
    for frame in frames:
        h, w = frame.shape[:2]
        if h < tile[0] or w < tile[1]:
            frame = cv2.resize(frame, (max(w, tile[1]), max(h, tile[0])), interpolation=cv2.INTER_LINEAR)
            h, w = frame.shape[:2]
        for _ in range(per_frame):
            y, x = rng.integers(0, h - tile[0] + 1), rng.integers(0, w - tile[1] + 1)
            crops.append(np.ascontiguousarray(frame[y:y + tile[0], x:x + tile[1]]))
    return crops



class _Reader:
    """onnxruntime.quantization CalibrationDataReader over recorded inputs."""

    def __init__(self, inputs: list[Inputs]) -> None:
        self._it: Iterator[Inputs] = iter(inputs)

    def get_next(self) -> Inputs | None:
        return next(self._it, None)


def quantize_onnxruntime(fp32: Path, out: Path, inputs: list[Inputs]) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    tmp = out.with_suffix(".tmp.onnx")
    import onnx

    keep_float = [n.name for n in onnx.load(str(pre)).graph.node if re.fullmatch(FLOAT_SCOPE_PATTERN, n.name)]
    try:
        quantize_static(str(pre), str(tmp), _Reader(inputs), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPS["onnx"]), nodes_to_exclude=keep_float,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.99})
        tmp.replace(out)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


def quantize_openvino(fp32: Path, out_xml: Path, inputs: list[Inputs]) -> Path:
    import nncf
    import openvino as ov

    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = ov.Core().read_model(str(fp32))
    keep_float = nncf.IgnoredScope(types=list(FLOAT_OPS_OPENVINO), patterns=[FLOAT_SCOPE_PATTERN], validate=False)
    quantized = nncf.quantize(model, nncf.Dataset(inputs), subset_size=len(inputs),
                              preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=True,
                              ignored_scope=keep_float)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    # compress_to_fp16=False: weights are int8 already; keep the rest exact
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return out_xml


def quantize_into(root: Path, fp32: Path, inputs: list[Inputs]) -> dict[str, str]:
    """Write both INT8 models into a bundle folder; returns the manifest's
    ``models.int8`` entry."""
    with contextlib.redirect_stdout(sys.stderr):  # the quantisers print progress; keep stdout for results
        quantize_onnxruntime(fp32, root / "model_int8.onnx", inputs)
        quantize_openvino(fp32, root / "openvino" / "model_int8.xml", inputs)
    return {"onnx": "model_int8.onnx", "openvino": "openvino/model_int8.xml"}
