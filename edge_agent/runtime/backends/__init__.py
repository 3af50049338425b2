"""Inference runtimes, registered by name; each lives in a file of its own and
is imported only when asked for, so a box without OpenVINO still runs ONNX
Runtime and vice versa."""
from __future__ import annotations

import importlib

from ...errors import UserError, choice_error
from .base import HINTS, Backend, InferQueue, SessionSpec

# name -> module that registers it; `auto` tries them in this order.
_MODULES = {
    "openvino": f"{__name__}.openvino_backend",
    "onnxruntime": f"{__name__}.onnxruntime_backend",
}
_REGISTRY: dict[str, Backend] = {}
BACKEND_NAMES = ("auto", *_MODULES)


def register(backend: Backend) -> Backend:
    """Called by each backend module on import: the extension point for a new runtime
    (add its module to ``_MODULES``)."""
    _REGISTRY[backend.name] = backend
    return backend


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``auto`` prefers OpenVINO."""
    if name == "auto":
        for candidate in _MODULES:
            try:
                return get_backend(candidate)
            except UserError:
                continue
        raise UserError("backend 'auto': neither OpenVINO nor ONNX Runtime is installed")
    if name not in _MODULES:
        raise choice_error("backend", name, BACKEND_NAMES)
    if name not in _REGISTRY:
        try:
            importlib.import_module(_MODULES[name])
        except ImportError as exc:
            raise UserError(f"backend '{name}' is not installed ({exc.name} missing); pip install {name}") from None
    return _REGISTRY[name]


__all__ = ["Backend", "HINTS", "InferQueue", "SessionSpec", "BACKEND_NAMES", "get_backend", "register"]
