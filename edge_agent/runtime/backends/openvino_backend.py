"""OpenVINO: CPU, integrated GPU, NPU and AUTO, always with static shapes
(the NPU requires them; CPU and GPU run faster with them), a model cache
directory (compiled blobs are reused across restarts: NPU and GPU compiles
take seconds) and the LATENCY hint (one stream, lowest time per frame)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from ...errors import BundleError, UserError, choice_error
from ..bundle import Bundle
from ..sampler import Denoise
from . import register
from .base import SessionSpec

_VIRTUAL_DEVICES = ("AUTO",)


class OpenVinoBackend:
    """OpenVINO: static shapes, compiled-model cache, LATENCY hint (see the module docstring)."""

    name = "openvino"

    def __init__(self) -> None:
        self._core: ov.Core | None = None

    @property
    def core(self) -> ov.Core:
        if self._core is None:  # creating a Core probes plugins: do it once, lazily
            self._core = ov.Core()
        return self._core

    def version(self) -> str:
        return ov.get_version()

    def devices(self) -> list[str]:
        return [*self.core.available_devices, *_VIRTUAL_DEVICES]

    def default_device(self) -> str:
        return "CPU"

    def needs_static_tile(self, device: str) -> bool:
        return device.upper().startswith("NPU")

    def check_device(self, device: str) -> str:
        """The device name as OpenVINO takes it; refuses devices this machine does not have."""
        device = device.upper()
        physical = self.core.available_devices
        base = device.split(":")[0]
        if base == "AUTO":
            wanted = [d for d in device.split(":", 1)[1].split(",") if d] if ":" in device else []
            missing = [d for d in wanted if d not in physical and d.split(".")[0] not in physical]
            if not missing:
                return device
        elif device in physical or (base.split(".")[0] in physical and "." not in base):
            return device
        raise choice_error("openvino device", device, self.devices())

    def model_file(self, bundle: Bundle, precision: str) -> Path:
        """The IR for ``precision`` when the bundle has one, else its ONNX file."""
        path = bundle.model_path(precision, "openvino") or bundle.model_path(precision, "onnx")
        if path is None:
            raise BundleError(f"model bundle {bundle.root}: no model for precision '{precision}'; "
                              f"allowed: {', '.join(bundle.precisions)}")
        return path

    def open(self, bundle: Bundle, spec: SessionSpec) -> Denoise:
        """Reshape to the static shape, compile (or load from the cache) and return D(x, sigma, cond)."""
        device = self.check_device(spec.device)
        model = self.core.read_model(str(self.model_file(bundle, spec.precision)))
        shape = [spec.batch, 3, spec.height, spec.width]
        model.reshape({"x": shape, "sigma": [spec.batch], "cond": shape})
        config: dict = {hints.performance_mode: hints.PerformanceMode.LATENCY}
        if spec.precision == "fp32" and device.startswith("CPU"):
            # fp32 means fp32: without this, CPUs with AMX/AVX512-BF16 silently run bf16
            config[hints.inference_precision] = ov.Type.f32
        if spec.threads and device.startswith("CPU"):
            config[props.inference_num_threads] = spec.threads
        if spec.cache_dir is not None:
            spec.cache_dir.mkdir(parents=True, exist_ok=True)
            config[props.cache_dir] = str(spec.cache_dir)
        try:
            compiled = self.core.compile_model(model, device, config)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"openvino could not compile the model for device {device}: {first}") from None
        request = compiled.create_infer_request()

        def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
            result = request.infer({"x": x, "sigma": sigma, "cond": cond})
            return np.array(result[compiled.output("denoised")], copy=True)

        return denoise


register(OpenVinoBackend())
