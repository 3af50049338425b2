"""The INT8 accuracy gate: a quantised model ships only if it stays within a
set margin of its own FP32 network on held-out frames.

Two measures, because installers rarely have clean references:
* with references (the held-out split): PSNR drop of INT8 against FP32, both
  scored against the clean frame; refused above ``margin_db``;
* without (a camera's own frames): agreement PSNR between the INT8 and FP32
  outputs; refused below ``min_agreement_db`` — at 32 dB the INT8 difference
  is far below the model's own error, so what the analyst sees is unchanged.
Every backend/format pair in the bundle is gated (ORT QDQ and OpenVINO NNCF).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer

DEFAULT_MARGIN_DB = 0.5
DEFAULT_MIN_AGREEMENT_DB = 32.0
INT8_RUNTIMES = ("onnxruntime", "openvino")
REFERENCE_TOLERANCE = 2.0 / 255.0  # mean abs difference (0..1) allowed when a box re-runs the reference in fp32


def write_reference(root: Path, frame: np.ndarray) -> dict[str, Any]:
    """Store a night frame and the FP32 output a box must reproduce (its
    smoke test before a model goes live) in the bundle folder ``root``; the
    INT8 tolerance is twice the error both runtimes show here. Returns the
    manifest's ``reference`` entry."""
    (root / "reference").mkdir(exist_ok=True)
    bundle = load_bundle(root)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32"))
    expected = enhancer.enhance(frame)
    cv2.imwrite(str(root / "reference" / "input.png"), frame[..., ::-1])
    cv2.imwrite(str(root / "reference" / "expected_fp32.png"), expected[..., ::-1])
    target = expected.astype(np.float32) / 255.0
    int8_error = max(float(np.abs(Enhancer(bundle, EnhanceSettings(backend=b, precision="int8"))
                                  .enhance_float(frame, enhancer.seed) - target).mean())
                     for b in INT8_RUNTIMES)
    return {"input": "reference/input.png", "expected": {"fp32": "reference/expected_fp32.png"},
            "steps": enhancer.steps, "seed": enhancer.seed, "average": enhancer.average,
            "tolerance": {"fp32": REFERENCE_TOLERANCE, "int8": max(0.01, 2 * int8_error)}}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


@dataclass
class GateResult:
    passed: bool
    fp32_psnr: float | None = None  # against references, when given
    per_runtime: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "fp32_psnr": self.fp32_psnr, "int8": self.per_runtime, "reasons": self.reasons}


def run_gate(bundle_dir: Path, night: list[np.ndarray], clean: list[np.ndarray] | None = None,
             margin_db: float = DEFAULT_MARGIN_DB, min_agreement_db: float = DEFAULT_MIN_AGREEMENT_DB) -> GateResult:
    bundle = load_bundle(bundle_dir)
    fp32 = Enhancer(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32"))
    reference_out = [fp32.enhance(n) for n in night]
    result = GateResult(passed=True)
    if clean is not None:
        result.fp32_psnr = float(np.mean([_psnr(o, c) for o, c in zip(reference_out, clean)]))
    for runtime in INT8_RUNTIMES:
        int8 = Enhancer(bundle, EnhanceSettings(backend=runtime, precision="int8"))
        outs = [int8.enhance(n) for n in night]
        entry = {"agreement_psnr": float(np.mean([_psnr(o, r) for o, r in zip(outs, reference_out)]))}
        if entry["agreement_psnr"] < min_agreement_db:
            result.passed = False
            result.reasons.append(f"{runtime} int8 agrees with fp32 at {entry['agreement_psnr']:.1f} dB "
                                  f"< {min_agreement_db} dB")
        if clean is not None:
            entry["psnr"] = float(np.mean([_psnr(o, c) for o, c in zip(outs, clean)]))
            entry["drop_db"] = result.fp32_psnr - entry["psnr"]
            if entry["drop_db"] > margin_db:
                result.passed = False
                result.reasons.append(f"{runtime} int8 loses {entry['drop_db']:.2f} dB > margin {margin_db} dB")
        result.per_runtime[runtime] = entry
    return result
