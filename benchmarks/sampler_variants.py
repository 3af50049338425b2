"""How to spend a checkpoint's network calls: steps, the first step's noise,
and averaging, judged on the native table (quick plan, every print scene).

    python -m benchmarks.sampler_variants --checkpoint checkpoints/student_v4/last.pt \\
        --variant 2:seeded --variant 1:seeded --variant 1:zero --variant 1:avg2 --variant 1:flip2

A variant is ``STEPS:KIND``:

* ``seeded``: the runtime's sampler as it is (seeded Gaussian noise at sigma_max);
* ``zero``: the first step starts from x = 0 instead of noise (no seed at all);
* ``avgN``: the mean of N seeded samples (seeds s .. s+N-1), what a bundle's
  ``sampler.average`` does;
* ``flip2``: one seeded sample averaged with the mirror image of a second
  sample run on the mirrored frame (test-time augmentation; a bundle's
  ``sampler.mirror`` with ``average: 2``);
* ``rot2``: the same with the second sample run on the frame turned by 180
  degrees and turned back (text upside down: an orientation the replay
  pool's flips and transposes never show the network).

Each costs STEPS x N network calls per frame. Torch FP32 on the checkpoint's
EMA weights, one thread; peers in the same run; print judges at --seeds seeds.
Writes the run's JSON and a one-line-per-variant summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge_agent.runtime.sampler import SAMPLERS, karras_sigmas, seeded_noise
from export import native_candidates as nc
from export.native_eval import run
from export.native_frames import Plan


def variant(model, schedules: dict[int, list[float]], spec: str):
    """An ``Enhance`` for one ``STEPS:KIND`` spec."""
    steps_s, _, kind = spec.partition(":")
    steps = int(steps_s)
    sigmas = schedules.get(steps) or karras_sigmas(steps, nc.FEW_STEP_SIGMA_MIN, nc.SIGMA_MAX).tolist()
    if not (kind in ("seeded", "zero", "flip2", "rot2") or (kind.startswith("avg") and kind[3:].isdigit())):
        raise SystemExit(f"error: variant {spec!r}: kind must be seeded, zero, avgN, flip2 or rot2")

    denoise = nc.torch_denoiser(model)

    def one(cond: np.ndarray, seed: int, view: str = "") -> np.ndarray:
        turn = {"": lambda a: a, "mirror": lambda a: a[..., ::-1], "rot180": lambda a: a[..., ::-1, ::-1]}[view]
        c = np.ascontiguousarray(turn(cond))
        noise = np.zeros(c.shape, np.float32) if kind == "zero" else seeded_noise(seed, c.shape)
        return turn(SAMPLERS["euler"](denoise, c, sigmas, noise))  # each view is its own inverse

    def enhance(night: np.ndarray, seed: int) -> np.ndarray:
        cond = nc.night_cond(night)
        if kind in ("flip2", "rot2"):
            out = 0.5 * (one(cond, seed) + one(cond, seed + 1, "mirror" if kind == "flip2" else "rot180"))
        elif kind.startswith("avg"):
            out = np.mean([one(cond, seed + i) for i in range(int(kind[3:]))], axis=0)
        else:
            out = one(cond, seed)
        return nc.model_output(night, out)

    return enhance


def summary_line(name: str, entry: dict) -> str:
    def f(a: dict) -> str:
        people = f" people {a['people_recall']:.2f} false {a['false_per_frame']:.2f}" if "people_recall" in a else ""
        if "people_recall_zoom" in a:
            people += f" (2x zoom {a['people_recall_zoom']:.2f} false {a['false_per_frame_zoom']:.2f})"
        return f"{a['psnr']:.2f} dB / {a['ssim']:.3f}{people}"

    st, p = entry["stills"], entry["print"]
    return (f"{name}: real CCTV {f(st['real CCTV'])} | photos + 720p {f(st['photos + 1280x720'])} | "
            f"print read {p['qr']['read'] + p['text']['read']} of {p['qr']['targets'] + p['text']['targets']}, "
            f"wrong {p['qr']['wrong'] + p['text']['wrong']} (seeds {entry['seeds']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sampler variants of one checkpoint on the quick native table.")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--variant", action="append", required=True, help="STEPS:KIND (repeatable)")
    ap.add_argument("--seeds", type=int, default=3, help="sampler seeds for the print judges (seeded kinds)")
    ap.add_argument("--print-scenes", type=int, default=4)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "edge-agent")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sampler_variants.json"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # beside a training run, one thread each is faster than two contending
    model, ckpt = nc.load_checkpoint(args.checkpoint)
    schedules = {int(k): v for k, v in (ckpt.get("schedules") or {}).items()}
    plan = Plan.quick()
    plan.print_scenes, plan.seeds, plan.bm3d, plan.video_conditions = args.print_scenes, args.seeds, False, ()
    label = f"{args.checkpoint.parent.name} @{ckpt.get('step', '?')}"
    cands = [nc.Candidate(f"{label} euler-{v}", "model", variant(model, schedules, v),
                          [0] if v.endswith(":zero") else nc.extra_seeds(0, plan.seeds)) for v in args.variant]
    result = run(plan, cands, args.data, args.debs, args.cache_dir)
    lines = [summary_line(name, e) for name, e in result["enhancers"].items()]
    result["command"] = "python -m benchmarks.sampler_variants " + " ".join(argv if argv is not None else sys.argv[1:])
    result["summary"] = lines
    for e in result["enhancers"].values():
        e.pop("rows", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
