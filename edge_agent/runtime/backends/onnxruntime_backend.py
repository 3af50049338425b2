"""ONNX Runtime: the CPU provider everywhere, plus any execution provider the
installed build has (CUDA, TensorRT, DirectML, CoreML, OpenVINO EP, ...).
It has no performance hint: ``SessionSpec.hint`` is ignored (one session,
its intra-op threads; throughput comes from several sessions side by side)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ...errors import BundleError, choice_error
from ..bundle import Bundle
from ..sampler import Denoise
from . import register
from .base import SessionSpec

# ONNX Runtime provider -> the device name users type.
_PROVIDER_DEVICES = {
    "CPUExecutionProvider": "CPU",
    "CUDAExecutionProvider": "CUDA",
    "TensorrtExecutionProvider": "TENSORRT",
    "DmlExecutionProvider": "DML",
    "CoreMLExecutionProvider": "COREML",
    "OpenVINOExecutionProvider": "OPENVINO",
    "ROCMExecutionProvider": "ROCM",
}


class OnnxRuntimeBackend:
    """ONNX Runtime: dynamic shapes, any installed execution provider."""

    name = "onnxruntime"

    def version(self) -> str:
        return ort.__version__

    def devices(self) -> list[str]:
        found = [_PROVIDER_DEVICES[p] for p in ort.get_available_providers() if p in _PROVIDER_DEVICES]
        return sorted(found, key=lambda d: d != "CPU")

    def default_device(self) -> str:
        return "CPU"

    def needs_static_tile(self, device: str) -> bool:
        return False

    def open(self, bundle: Bundle, spec: SessionSpec) -> Denoise:
        """A session on the requested device's provider (CPU as fallback for the others)."""
        device = spec.device.upper()
        if device not in self.devices():
            raise choice_error("onnxruntime device", spec.device, self.devices())
        path = bundle.model_path(spec.precision, "onnx")
        if path is None:
            raise BundleError(f"model bundle {bundle.root}: no ONNX model for precision '{spec.precision}'; "
                              f"allowed: {', '.join(bundle.precisions)}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if spec.threads:
            options.intra_op_num_threads = spec.threads
        provider = next(p for p, d in _PROVIDER_DEVICES.items() if d == device)
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        session = ort.InferenceSession(str(path), options, providers=providers)

        def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
            return session.run(["denoised"], {"x": x, "sigma": sigma, "cond": cond})[0]

        return denoise


register(OnnxRuntimeBackend())
