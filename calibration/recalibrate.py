"""Recalibrate a bundle's INT8 models on an installer's own camera.

    python -m calibration.recalibrate --bundle edge_agent/models/default \
        --source rtsp://camera/stream --frames 32 --out /var/lib/edge-agent/calibrated

The FP32 network is untouched; both INT8 models are re-quantised on frames
from this camera at its own light levels, the accuracy gate checks them
against FP32 on frames held back from calibration, and only a passing bundle
is written (atomically). The new bundle is a local variant: its version gets
a ``+cal`` suffix, its provenance records the calibration, and any fleet
signature is dropped because the files changed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

from edge_agent.runtime.backends import SessionSpec, get_backend
from edge_agent.runtime.bundle import SIGNATURE, load_bundle, write_manifest
from edge_agent.errors import UserError

from .collect import collect
from .gate import DEFAULT_MIN_AGREEMENT_DB, run_gate
from .quantize import crops_for_calibration, quantize_into, record_inputs

CROP = (128, 128)


def recalibrate(bundle_dir: Path, source: str, out: Path, frames: int, min_agreement_db: float) -> dict:
    bundle = load_bundle(bundle_dir)
    shots = collect(source, frames)
    if len(shots) < 2:
        raise UserError(f"calibration source {source} gave {len(shots)} frame(s); at least 2 are needed")
    gate_frames = shots[::4] if len(shots) >= 4 else shots[-1:]
    calib_frames = [f for i, f in enumerate(shots) if i % 4 != 0] if len(shots) >= 4 else shots[:-1]
    fp32 = get_backend("onnxruntime").open(bundle, SessionSpec("fp32", "CPU", 1, *CROP))
    inputs = record_inputs(fp32, bundle.sampler.name, bundle.sampler.sigmas, crops_for_calibration(calib_frames, CROP),
                           bundle.sampler.default_seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copytree(bundle.root, work, dirs_exist_ok=True)
        (work / SIGNATURE).unlink(missing_ok=True)
        manifest = dict(bundle.manifest)
        manifest["models"] = {**manifest["models"], "int8": quantize_into(work, work / manifest["models"]["fp32"]["onnx"], inputs)}
        manifest["version"] = bundle.version.split("+")[0] + "+cal"
        manifest["provenance"] = {**manifest.get("provenance", {}), "calibration": {
            "source": source, "frames": len(calib_frames), "gate_frames": len(gate_frames),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}}
        write_manifest(work, manifest)
        gate = run_gate(work, gate_frames, min_agreement_db=min_agreement_db)
        if not gate.passed:
            raise UserError("recalibrated INT8 model refused by the accuracy gate: " + "; ".join(gate.reasons))
        manifest["metrics"] = {**manifest.get("metrics", {}), "calibration_gate": gate.to_dict()}
        write_manifest(work, manifest)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return gate.to_dict()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Recalibrate a bundle's INT8 models on your own camera's frames.")
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--source", required=True, help="folder of images, video file, RTSP/HTTP URL or camera index")
    ap.add_argument("--out", type=Path, required=True, help="where to write the recalibrated bundle")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--min-agreement-db", type=float, default=DEFAULT_MIN_AGREEMENT_DB)
    args = ap.parse_args(argv)
    try:
        result = recalibrate(args.bundle, args.source, args.out, args.frames, args.min_agreement_db)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
