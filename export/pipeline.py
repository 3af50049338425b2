"""One command: data -> teacher -> student -> ONNX -> INT8 -> bundle.

    python -m export.pipeline --out edge_agent/models/default

Every stage resumes: the dataset is built once, teacher and student training
continue from their last checkpoints (so a run cut short, or a new session,
picks up where the last one stopped), and the bundle is replaced atomically.
``--teacher-minutes`` / ``--student-minutes`` cap the time spent training in
this run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from edge_agent.runtime.bundle import load_bundle

from . import sources
from .bundle_builder import BundleSpec, build_bundle, runtime_settings, summary
from .camera_model import CONDITIONS, degrade, sample_params
from .dataset import eval_pairs, load_split, random_crop
from .distill import DistillConfig, distill
from .evaluate import torch_enhancer
from .metrics import all_metrics
from .onnx_export import load_denoiser
from .train import TrainConfig, train


def calibration_frames(data: Path, count: int = 24, seed: int = 5) -> list[np.ndarray]:
    """Night frames as the camera delivers them (the model's real inputs):
    random camera settings, and every named condition once, so that the
    INT8 ranges also cover the brightest nights (measured: without them
    dusk_led lost 2.7 dB to INT8 while street_led lost 0.1)."""
    rng = np.random.default_rng(seed)
    frames = list(load_split(data, "train").values())
    settings = list(CONDITIONS.values()) + [sample_params(rng) for _ in range(max(0, count - len(CONDITIONS)))]
    out = []
    for i, params in enumerate(settings):
        clean = random_crop(frames[i % len(frames)], 256, rng)
        out.append(degrade(clean, params, rng)[0])
    return out


def quick_metrics(student: Path, data: Path, schedules: dict[int, list[float]], limit: int) -> dict:
    model = load_denoiser(student)
    pairs = eval_pairs(data, 256, limit=limit)
    metrics = {}
    for steps, sigmas in schedules.items():
        enhance = torch_enhancer(model, "euler", sigmas)
        rows = [all_metrics(enhance(p["night"]), p["clean"]) for p in pairs]
        metrics[f"{steps}_step"] = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}
    metrics["eval"] = f"{len(pairs)} held-out pairs at 256 px (export.evaluate has the full table)"
    return metrics


# what calibration/quantize.py leaves in float (FLOAT_SCOPE_PATTERN), for the manifest
INT8_SCOPE = "INT8 convolutions but the stem and context branch"


def student_method(scfg: DistillConfig, step: int, init_step: int | None = None) -> str:
    """How the bundled network was made, in one line for the manifest."""
    if not step:
        return ("EDM teacher sampled on the student's Euler schedules, not distilled yet "
                f"(the student architecture trained as the teacher), {INT8_SCOPE}")
    loss = "EDM L2" + (" + gradient L1" if scfg.edge_weight else "")
    loss += f" + {scfg.ssim_weight:g} x (1 - luma SSIM)" if scfg.ssim_weight else ""
    if scfg.print_weight:
        loss += f", print pixels weighed {1 + scfg.print_weight:g}x"
    if scfg.print_dihedral:
        loss += ", print in all 8 orientations"
    if scfg.pair_weight:
        loss += ", matched to the teacher's mirrored pair"
    # the init file may have trained on since: its step when the student started names the weights
    start = f"from {scfg.init}" if scfg.init else "from the teacher's weights"
    start += f" @{init_step}" if scfg.init and init_step is not None else ""
    how = ("progressive distillation to the teacher's Heun substeps" if scfg.teacher_weight
           else f"trained on its own Euler schedules from the data ({loss}), {start}")
    extras = (f", low frequencies (pooled {scfg.colour_anchor_pool}x) anchored to {scfg.colour_anchor}"
              if scfg.colour_anchor_weight else "")
    if scfg.channels:
        extras += f", grown to {'/'.join(map(str, scfg.channels))} channels"
    if scfg.tone_anchor:
        extras += f", judged through the {scfg.tone_anchor:g} px tone anchor"
    if scfg.lr_anneal_start:
        extras += f", lr annealed to {scfg.lr_anneal_to:g}x from iteration {scfg.lr_anneal_start}"
    steps = "/".join(map(str, scfg.steps))
    return f"EDM teacher -> {steps}-step Euler student {how}{extras}, {step} iterations, {INT8_SCOPE}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train, distil, export, quantise and bundle the night-CCTV student.")
    ap.add_argument("--teacher-config", type=Path, default=Path("export/configs/teacher_v2_cpu.yaml"))
    ap.add_argument("--student-config", type=Path, default=Path("export/configs/student_v2_cpu.yaml"))
    ap.add_argument("--teacher-minutes", type=float, default=None)
    ap.add_argument("--student-minutes", type=float, default=None)
    ap.add_argument("--skip-training", action="store_true", help="bundle the checkpoints as they are")
    ap.add_argument("--out", type=Path, default=Path("edge_agent/models/default"))
    ap.add_argument("--version", default="0.1.0")
    ap.add_argument("--default-steps", type=int, default=2)
    ap.add_argument("--average", type=int, default=1, help="samples averaged per output frame (the bundle's default)")
    ap.add_argument("--mirror", action="store_true",
                    help="every second averaged sample on the mirrored frame (with --average 2: a mirrored pair)")
    ap.add_argument("--tone-anchor", type=float, default=None, metavar="PX",
                    help="the output's content coarser than PX becomes one colour transform of the night frame's "
                         "(edge_agent/runtime/tone_anchor.py; 0: off; default: the student config's tone_anchor, "
                         "the anchor it trained through)")
    ap.add_argument("--motion", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                    help="the temporal filter's motion thresholds (x noise level), from python -m benchmarks.temporal")
    ap.add_argument("--eval-limit", type=int, default=6)
    ap.add_argument("--calibration-frames", type=int, default=24)
    args = ap.parse_args(argv)

    tcfg, scfg = TrainConfig.load(args.teacher_config), DistillConfig.load(args.student_config)
    data = Path(tcfg.data)
    if not (data / "index.json").exists():
        sources.build(data, Path.home() / ".cache" / "edge-agent" / "debs")
    if not args.skip_training:
        train(tcfg, args.teacher_minutes)
        distill(scfg, args.student_minutes)
    student = Path(scfg.out) / "last.pt"
    ckpt = torch.load(student, map_location="cpu", weights_only=False)
    teacher_ckpt = torch.load(scfg.teacher, map_location="cpu", weights_only=False)
    schedules = {int(k): v for k, v in ckpt["schedules"].items()}
    previous = args.out / "manifest.json"
    version_code = json.loads(previous.read_text())["version_code"] + 1 if previous.exists() else 1
    tone_anchor = scfg.tone_anchor if args.tone_anchor is None else args.tone_anchor  # default: what it trained through
    spec = BundleSpec(
        version=args.version, version_code=version_code, sampler="euler", sigmas=schedules,
        default_steps=args.default_steps, average=args.average, mirror=args.mirror,
        tone_anchor=tone_anchor, tile=(384, 672), tile_overlap=32,
        provenance={"data": f"export.sources: {len(load_split(data, 'train'))} clean training frames "
                            "(opencv-doc, wallpaper photos, scikit-image/learn); vtest.avi held out",
                    "method": student_method(scfg, ckpt["step"], ckpt.get("init_step")),
                    # the student records the teacher it started from (a later teacher may sit in its folder)
                    "teacher": {"step": ckpt.get("teacher_step", teacher_ckpt["step"]),
                                "history": ckpt.get("teacher_history", teacher_ckpt["history"]),
                                "net": teacher_ckpt["net"]},
                    "student": {"step": ckpt["step"], "history": ckpt["history"]}},
        metrics=quick_metrics(student, data, schedules, args.eval_limit),
        settings=runtime_settings(backend="openvino", precision="int8", steps=args.default_steps))
    if args.motion:
        spec.settings["temporal"].update(motion_low=args.motion[0], motion_high=args.motion[1])
    night = calibration_frames(data, args.calibration_frames)
    reference = eval_pairs(data, 192, limit=1)[0]["night"]
    out = build_bundle(load_denoiser(student), args.out, spec, night, reference, calibration_tile=(128, 128))
    load_bundle(out)
    print(summary(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
