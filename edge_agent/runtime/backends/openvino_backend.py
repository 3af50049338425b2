"""OpenVINO: CPU, integrated GPU, NPU and AUTO, always with static shapes
(the NPU requires them; CPU and GPU run faster with them), a model cache
directory (compiled blobs are reused across restarts: NPU and GPU compiles
take seconds) and the spec's PERFORMANCE_HINT: LATENCY (one stream, lowest
time per frame: what the agent runs) or THROUGHPUT (several streams; with
``open_queue`` several infer requests in flight, OpenVINO's
AsyncInferQueue, as many as OPTIMAL_NUMBER_OF_INFER_REQUESTS says)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from ...errors import BundleError, UserError, choice_error
from ..bundle import Bundle
from ..sampler import Denoise
from . import register
from .base import HINTS, SessionSpec

_VIRTUAL_DEVICES = ("AUTO",)
PERFORMANCE_MODES = {"latency": hints.PerformanceMode.LATENCY, "throughput": hints.PerformanceMode.THROUGHPUT}


class AsyncQueue:
    """``base.InferQueue`` over OpenVINO's AsyncInferQueue: ``requests`` infer
    requests of one compiled model in flight, each inference's latency kept."""

    def __init__(self, compiled: ov.CompiledModel, requests: int | None = None) -> None:
        self.optimal_requests = int(compiled.get_property(props.optimal_number_of_infer_requests))
        self.requests = requests or self.optimal_requests
        self.latencies_ms: list[float] = []
        self._queue = ov.AsyncInferQueue(compiled, self.requests)
        self._queue.set_callback(self._done)

    def _done(self, request: ov.InferRequest, userdata: Any) -> None:
        self.latencies_ms.append(float(request.latency))  # on OpenVINO's thread; list.append is atomic

    def start(self, inputs: dict[str, np.ndarray]) -> None:
        self._queue.start_async(inputs)

    def wait(self) -> None:
        self._queue.wait_all()


class OpenVinoBackend:
    """OpenVINO: static shapes, compiled-model cache, performance hint (see the module docstring)."""

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

    def compile(self, bundle: Bundle, spec: SessionSpec) -> ov.CompiledModel:
        """Reshape to the static shape and compile (or load from the cache) with the spec's hint."""
        if spec.hint not in HINTS:
            raise UserError(f"performance hint {spec.hint!r} is not allowed; allowed: {', '.join(HINTS)}")
        device = self.check_device(spec.device)
        model = self.core.read_model(str(self.model_file(bundle, spec.precision)))
        shape = [spec.batch, 3, spec.height, spec.width]
        model.reshape({"x": shape, "sigma": [spec.batch], "cond": shape})
        config: dict = {hints.performance_mode: PERFORMANCE_MODES[spec.hint]}
        if spec.precision == "fp32" and device.startswith("CPU"):
            # fp32 means fp32: without this, CPUs with AMX/AVX512-BF16 silently run bf16
            config[hints.inference_precision] = ov.Type.f32
        if spec.threads and device.startswith("CPU"):
            config[props.inference_num_threads] = spec.threads
        if spec.cache_dir is not None:
            spec.cache_dir.mkdir(parents=True, exist_ok=True)
            config[props.cache_dir] = str(spec.cache_dir)
        try:
            return self.core.compile_model(model, device, config)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"openvino could not compile the model for device {device}: {first}") from None

    def open(self, bundle: Bundle, spec: SessionSpec) -> Denoise:
        """Compile for ``spec`` and return D(x, sigma, cond) on one infer request."""
        compiled = self.compile(bundle, spec)
        request = compiled.create_infer_request()

        def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
            result = request.infer({"x": x, "sigma": sigma, "cond": cond})
            return np.array(result[compiled.output("denoised")], copy=True)

        return denoise

    def open_queue(self, bundle: Bundle, spec: SessionSpec, requests: int | None = None) -> AsyncQueue:
        """Compile for ``spec`` and return ``requests`` infer requests to keep in
        flight (default: the device's OPTIMAL_NUMBER_OF_INFER_REQUESTS for the hint)."""
        return AsyncQueue(self.compile(bundle, spec), requests)


register(OpenVinoBackend())
