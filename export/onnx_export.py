"""Export the preconditioned denoiser D(x, sigma, cond) to ONNX.

The graph holds the EDM preconditioning, so the runtime's numpy sampler only
sees noise levels. Batch, height and width are dynamic; OpenVINO reshapes
to static shapes at compile time (the NPU needs that), and ONNX Runtime runs
any shape. Opset 17 is read by both ONNX Runtime and OpenVINO.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .network import Denoiser, NetConfig

OPSET = 17
INPUT_NAMES = ["x", "sigma", "cond"]
OUTPUT_NAMES = ["denoised"]


def load_denoiser(checkpoint: Path, use_ema: bool = True) -> Denoiser:
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = Denoiser(NetConfig(**ckpt["net"]))
    model.load_state_dict(ckpt["ema" if use_ema and "ema" in ckpt else "model"])
    return model.eval()


def export_onnx(model: Denoiser, path: Path, sample_hw: tuple[int, int] = (64, 64)) -> Path:
    h, w = sample_hw
    x = torch.randn(1, 3, h, w)
    sigma = torch.ones(1)
    cond = torch.rand(1, 3, h, w)
    axes = {"x": {0: "batch", 2: "height", 3: "width"}, "cond": {0: "batch", 2: "height", 3: "width"},
            "sigma": {0: "batch"}, "denoised": {0: "batch", 2: "height", 3: "width"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x, sigma, cond), str(tmp), input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    tmp.replace(path)
    return path
