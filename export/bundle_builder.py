"""Assemble a model bundle from a trained denoiser: ONNX FP32, INT8 for ONNX
Runtime (QDQ) and OpenVINO (NNCF), reference frames for smoke tests, and a
manifest that carries the sampler, the io spec, provenance and sha256 of
every file. The bundle is built in a temporary folder and renamed into
place, so a failed build never leaves a half bundle behind."""
from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from calibration.gate import write_reference
from calibration.quantize import crops_for_calibration, quantize_into, record_inputs
from edge_agent.runtime.bundle import load_bundle, write_manifest

from .network import Denoiser, count_macs
from .onnx_export import export_onnx



@dataclass
class BundleSpec:
    name: str = "night-cctv-student"
    version: str = "0.1.0"
    version_code: int = 1
    sampler: str = "euler"
    sigmas: dict[int, list[float]] = field(default_factory=dict)
    default_steps: int = 2
    default_seed: int = 0
    average: int = 1  # samples averaged per output frame (seeds seed .. seed + average - 1)
    mirror: bool = False  # every second averaged sample on the mirrored frame (runtime/enhancer.py)
    tone_anchor: float = 0.0  # px: large-scale tone as one colour transform of the night frame (runtime/tone_anchor.py)
    tile: tuple[int, int] = (256, 256)
    tile_overlap: int = 32
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: runtime_settings())


def runtime_settings(**extra: Any) -> dict[str, Any]:
    """Recommended runtime settings for the manifest: forensic mode reads its
    seeds and map scale here, video streams their temporal filter (strength and
    thresholds from the sweep in benchmarks/temporal.py on the static-camera clip)."""
    return {"uncertainty": {"samples": 4, "scale": 8.0},
            "temporal": {"strength": 0.95, "motion_low": 2.0, "motion_high": 4.0, "noise_ref": 2.0, "max_strength": 0.99},
            **extra}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ort_denoiser(path: Path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x, sigma, cond: session.run(["denoised"], {"x": x, "sigma": sigma, "cond": cond})[0]


def build_bundle(model: Denoiser, out: Path, spec: BundleSpec, calibration_frames: list[np.ndarray],
                 reference_frame: np.ndarray, calibration_tile: tuple[int, int] = (128, 128)) -> Path:
    """Write the bundle folder ``out`` (replacing an older one atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    work.chmod(0o755)
    try:
        fp32 = export_onnx(model, work / "model_fp32.onnx")
        crops = crops_for_calibration(calibration_frames, calibration_tile)
        inputs = record_inputs(_ort_denoiser(fp32), spec.sampler, spec.sigmas, crops, spec.default_seed)
        int8_entry = quantize_into(work, fp32, inputs)
        manifest = {
            "name": spec.name, "version": spec.version, "version_code": spec.version_code,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "sampler": {"name": spec.sampler, "sigmas": {str(k): v for k, v in spec.sigmas.items()},
                        "default_steps": spec.default_steps, "default_seed": spec.default_seed,
                        "seed_policy": "fixed: noise depends only on (seed, frame size); one seed per stream",
                        "average": spec.average, "mirror": spec.mirror, "tone_anchor": spec.tone_anchor},
            "requires": [f for f, used in (("average", spec.average > 1), ("mirror", spec.mirror),
                                           ("tone_anchor", spec.tone_anchor > 0)) if used],
            "io": {"colour_order": "RGB", "layout": "NCHW", "cond_range": [0.0, 1.0], "data_range": [-1.0, 1.0],
                   "tile": list(spec.tile), "tile_overlap": spec.tile_overlap, "granularity": model.granularity,
                   "inputs": {"x": "noisy image, data range", "sigma": "noise level per batch item",
                              "cond": "night frame, cond range"}, "output": "denoised"},
            "models": {"fp32": {"onnx": "model_fp32.onnx"}, "int8": int8_entry},
            "provenance": {"commit": git_commit(), "host": platform.node(), "machine": platform.machine(),
                           "macs_per_pixel": round(count_macs(model, 256, 256) / 256**2, 1),
                           "parameters": sum(p.numel() for p in model.parameters()),
                           "calibration_inputs": len(inputs), **spec.provenance},
            "metrics": spec.metrics,
            "settings": spec.settings,
        }
        write_manifest(work, manifest)
        manifest["reference"] = write_reference(work, reference_frame)
        write_manifest(work, manifest)
        load_bundle(work)  # refuse to publish a bundle that does not verify
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            work.rename(out)
            shutil.rmtree(old)
        else:
            work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def summary(bundle_dir: Path) -> str:
    m = json.loads((bundle_dir / "manifest.json").read_text())
    size = sum(f["size"] for f in m["files"].values())
    return f"{m['name']} {m['version']} ({size / 1e6:.1f} MB) -> {bundle_dir}"
