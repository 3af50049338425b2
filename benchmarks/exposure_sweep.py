"""How an enhancer's quality moves with the night frame's exposure, at native resolution.

    python -m benchmarks.exposure_sweep --checkpoint checkpoints/student_v9/last.pt \\
        --bundle edge_agent/models/night-cctv-student

Why: a network trained on very dark frames can get *worse* as the frame gets
cleaner (dusk, a lit street): it keeps applying the gain and the smoothing a
dark frame needs. The fixed conditions of the native table hold one exposure
each; this sweeps it. Real CCTV frames (vtest.avi, held out) under each named
lamp/camera condition, the exposure replaced by each of ``--exposures``; per
cell PSNR and GT-mean PSNR (the output's mean brightness matched to the clean
frame: what the frame holds, exposure aside) and, on the print scenes, the
targets read and the wrong reads (the native table's plates and codes). The
night input's GT-mean PSNR is the floor an enhancer must not fall below where
the frame is clean. Checkpoints run in torch FP32 (one call, the first seed),
bundles as the runtime runs them (OpenVINO INT8).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edge_agent.measure import cpu_name
from export import native_candidates as nc
from export import native_frames as nf
from export.camera_model import CONDITIONS, degrade
from export.judges import judge_print
from export.metrics import psnr, psnr_mean_matched
from export.print_render import render_print

DEFAULT_EXPOSURES = (0.03, 0.06, 0.12, 0.25, 0.5, 0.8)
DEFAULT_CONDITIONS = ("dusk_led", "street_led", "ir_mono")


def sweep_frames(debs: Path, stills: int, print_scenes: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Real CCTV stills (the quick table's) and print scenes (plates and codes pasted into other frames)."""
    path = nf.vtest_path(debs)
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    full = nf.vtest_indices(total, nf.VTEST_FRAMES)
    still_idx = nf.vtest_indices(total, stills)
    print_idx = nf.print_backgrounds(full, print_scenes)
    got = nf.read_video_frames(path, sorted(set(still_idx) | set(print_idx)))
    return ({f"vtest_{i:04d}": nf._crop16(got[i]) for i in still_idx},
            [nf._crop16(got[i]) for i in print_idx])


def score(enhance, stills: dict[str, np.ndarray], scenes: list[tuple[np.ndarray, list]], condition: str,
          exposure: float) -> dict:
    params = replace(CONDITIONS[condition], exposure=exposure)
    psnrs, gt_means = [], []
    for name, clean in stills.items():
        night, target = degrade(clean, params, nf.pair_seed(name, f"{condition}@{exposure}"))
        out = enhance(night)
        psnrs.append(psnr(out, target))
        gt_means.append(psnr_mean_matched(out, target))
    read = wrong = targets = 0
    for k, (clean, truths) in enumerate(scenes):
        night, _ = degrade(clean, params, nf.pair_seed(f"print_{k}", f"{condition}@{exposure}"))
        for r in judge_print(enhance(night), truths):
            targets += 1
            read += r["verdict"] == "read"
            wrong += r["verdict"] == "wrong"
    return {"psnr": float(np.mean(psnrs)), "gt_mean_psnr": float(np.mean(gt_means)),
            "print_read": read, "print_wrong": wrong, "print_targets": targets}


def enhancers(checkpoints: list[Path], bundles: list[Path]) -> dict[str, object]:
    plan = nf.Plan.quick()
    out: dict[str, object] = {"night input": lambda night: night}
    for path in checkpoints:
        cand = nc.checkpoint_candidates(f"{path}:1", plan)[0]
        out[cand.name] = lambda night, c=cand: c.enhance(night, 0)
    for path in bundles:
        cand = nc.bundle_candidate(path, None, plan)
        out[cand.name] = lambda night, c=cand: c.enhance(night, c.seeds[0])
    return out


def table(result: dict) -> str:
    exposures = result["exposures"]
    lines = [f"Exposure sweep, real CCTV at native resolution ({result['stills']} stills, {result['print_targets']} "
             f"print targets per cell). Machine: {result['machine']}. Command: `{result['command']}`", "",
             "Cells: PSNR / GT-mean PSNR · print read (wrong).", ""]
    for condition, rows in result["conditions"].items():
        lines += [f"**{condition}** (exposure as a fraction of a normal exposure)", "",
                  "| enhancer | " + " | ".join(f"{e:g}" for e in exposures) + " |",
                  "| --- |" + " --- |" * len(exposures)]
        for name, cells in rows.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{c['psnr']:.1f} / {c['gt_mean_psnr']:.1f} · {c['print_read']} ({c['print_wrong']})" for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Quality against the night frame's exposure, at native resolution.")
    ap.add_argument("--checkpoint", type=Path, action="append", default=[])
    ap.add_argument("--bundle", type=Path, action="append", default=[])
    ap.add_argument("--exposures", type=float, nargs="+", default=list(DEFAULT_EXPOSURES))
    ap.add_argument("--conditions", nargs="+", default=list(DEFAULT_CONDITIONS), choices=sorted(CONDITIONS))
    ap.add_argument("--stills", type=int, default=6)
    ap.add_argument("--print-scenes", type=int, default=2)
    ap.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/exposure_sweep"))
    args = ap.parse_args(argv)
    bad = [e for e in args.exposures if not 0 < e <= 1]
    if bad:
        print(f"error: --exposures {bad}: allowed fractions of a normal exposure in (0, 1]", file=sys.stderr)
        return 2
    for path in args.checkpoint + args.bundle:
        if not path.exists():
            print(f"error: {path}: not found; allowed: a checkpoint file or a bundle folder", file=sys.stderr)
            return 2
    import torch

    torch.set_num_threads(1)  # beside a training run
    stills, backgrounds = sweep_frames(args.debs, args.stills, args.print_scenes)
    scenes = [render_print(bg, k) for k, bg in enumerate(backgrounds)]
    runs = enhancers(args.checkpoint, args.bundle)
    conditions: dict[str, dict[str, list[dict]]] = {}
    for condition in args.conditions:
        conditions[condition] = {name: [score(fn, stills, scenes, condition, e) for e in args.exposures]
                                 for name, fn in runs.items()}
        print(f"{condition} done", file=sys.stderr, flush=True)
    result = {"command": "python -m benchmarks.exposure_sweep " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": cpu_name(), "exposures": args.exposures, "stills": len(stills),
              "print_targets": sum(len(t) for _, t in scenes), "conditions": conditions}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(table(result) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
