"""Devices as a user names them: which ones a runtime knows, which ones this
machine has, and what to install when one is absent (``enhance``, ``bench``
and ``doctor`` all say it the same way)."""
from __future__ import annotations

import glob
from typing import Any

from ..errors import UserError
from ..runtime.backends import get_backend

# Devices each runtime can drive on some machine (OpenVINO's plugins and
# virtual devices; ONNX Runtime's execution providers as the backend names them).
KNOWN_DEVICES = {
    "openvino": ("CPU", "GPU", "NPU", "AUTO", "HETERO", "MULTI", "BATCH"),
    "onnxruntime": ("CPU", "CUDA", "TENSORRT", "DML", "COREML", "OPENVINO", "ROCM"),
}
VIRTUAL_DEVICES = ("AUTO", "HETERO", "MULTI", "BATCH")  # OpenVINO: they pick among the hardware ones
DRIVER_HINTS = {
    "GPU": "an Intel iGPU/Arc needs the compute runtime (apt install intel-opencl-icd, or Intel's "
           "compute-runtime packages) and access to /dev/dri (group 'render')",
    "NPU": "an Intel NPU (Core Ultra) needs the linux-npu-driver (intel-driver-compiler-npu, "
           "intel-level-zero-npu) and access to /dev/accel (group 'render')",
    "CUDA": "pip install onnxruntime-gpu (instead of onnxruntime) and the NVIDIA driver",
    "TENSORRT": "pip install onnxruntime-gpu, TensorRT and the NVIDIA driver",
    "ROCM": "an ONNX Runtime build with ROCm and AMD's ROCm driver",
    "DML": "Windows with pip install onnxruntime-directml",
    "COREML": "macOS (the CoreML provider ships with onnxruntime there)",
    "OPENVINO": "pip install onnxruntime-openvino",
}


def family(device: str) -> str:
    """'GPU.1' -> 'GPU', 'AUTO:GPU,CPU' -> 'AUTO'."""
    return device.upper().split(":")[0].split(".")[0]


def absent_hint(device: str) -> str:
    """What to install so ``device`` shows up ('' when there is nothing to say)."""
    return DRIVER_HINTS.get(family(device), "")


def check_device(backend_name: str, device: str | None) -> None:
    """Refuse a device before any model is compiled: unknown to the runtime
    ("not supported") and known but not on this machine ("not present", with
    the driver to install) are different problems with different fixes."""
    if device is None:
        return
    backend = get_backend(backend_name)
    known = KNOWN_DEVICES.get(backend.name, ())
    fam = family(device)
    present = [d for d in backend.devices() if family(d) not in VIRTUAL_DEVICES]
    if fam not in known:
        raise UserError(f"device {device!r} is not supported by {backend.name}; allowed: {', '.join(known)} "
                        f"(present on this machine: {', '.join(present)})")
    wanted = [fam] if fam not in VIRTUAL_DEVICES else \
        [family(d) for d in device.split(":", 1)[1].split(",") if d] if ":" in device else []
    missing = [d for d in wanted if d not in {family(p) for p in present}]
    if missing:
        hints = "; ".join(filter(None, (absent_hint(d) for d in missing)))
        raise UserError(f"device {device!r} is not present on this machine ({backend.name} sees: "
                        f"{', '.join(present)})" + (f"; {hints}" if hints else ""))


def _device_nodes(family_name: str) -> list[str]:
    """The kernel's device nodes for a GPU (/dev/dri/renderD*) or an NPU (/dev/accel/accel*)."""
    pattern = {"GPU": "/dev/dri/renderD*", "NPU": "/dev/accel/accel*"}.get(family_name)
    return sorted(glob.glob(pattern)) if pattern else []


def _absent_reason(family_name: str) -> str:
    nodes = _device_nodes(family_name)
    where = (f"the kernel has {', '.join(nodes)} but OpenVINO cannot use it" if nodes
             else "no device node (no such hardware, or its kernel driver is not loaded)")
    return f"absent: {where}; {absent_hint(family_name)}"


def openvino_report() -> dict[str, Any]:
    """OpenVINO's devices as ``benchmark_app``/``hello_query_device`` show them: the full name and
    OPTIMIZATION_CAPABILITIES of each, the virtual devices apart, and GPU/NPU as present, absent
    (plugin installed, no device: the driver to install) or unsupported (no plugin in this build)."""
    backend = get_backend("openvino")
    core = backend.core  # type: ignore[attr-defined]
    hardware = [d for d in core.available_devices if family(d) not in VIRTUAL_DEVICES]
    report: dict[str, Any] = {"version": backend.version(), "devices": backend.devices(), "hardware": {},
                              "virtual": list(VIRTUAL_DEVICES), "absent": {}, "unsupported": []}
    for device in hardware:
        info: dict[str, Any] = {}
        for key, prop in (("name", "FULL_DEVICE_NAME"), ("capabilities", "OPTIMIZATION_CAPABILITIES"),
                          ("type", "DEVICE_TYPE"), ("streams", "RANGE_FOR_STREAMS")):
            try:
                value = core.get_property(device, prop)
                info[key] = list(value) if isinstance(value, (list, tuple)) else str(value).removeprefix("Type.")
            except RuntimeError:
                continue
        report["hardware"][device] = info
    for fam in ("GPU", "NPU"):
        if any(family(d) == fam for d in hardware):
            continue
        try:
            core.get_versions(fam)  # the plugin loads: the runtime supports it, the machine lacks it
            report["absent"][fam] = _absent_reason(fam)
        except RuntimeError:
            report["unsupported"].append(fam)
    return report


def onnxruntime_report() -> dict[str, Any]:
    """ONNX Runtime's execution providers: available in this build, and the ones
    it knows but this package was not built with (a different wheel has them)."""
    backend = get_backend("onnxruntime")  # a UserError naming the extra when it is not installed
    import onnxruntime as ort

    available = ort.get_available_providers()
    missing = [p for p in ort.get_all_providers() if p not in available]
    hints = {p: absent_hint(p.removesuffix("ExecutionProvider").upper()) for p in missing}
    return {"version": backend.version(), "devices": backend.devices(), "providers": available,
            "not_in_this_build": {p: h for p, h in hints.items() if h} | {p: "" for p in missing if not hints[p]}}
