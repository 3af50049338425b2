"""Where a model's error lives: mean error per RGB channel (a colour cast)
and the share of the squared error that survives a Gaussian blur of 8 px
(low frequencies), on real CCTV frames (vtest.avi, held out) under a night
condition. Used to tell a colour-prior problem from a detail problem.

    python -m benchmarks.colour_bias --checkpoint checkpoints/teacher_v2/last.pt \
        [--checkpoint OTHER.pt] [--conditions street_sodium low_bitrate] [--frames 3]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from export.camera_model import CONDITIONS, degrade
from export.dataset import load_split
from export.native_candidates import checkpoint_candidates
from export.native_frames import Plan


def error_profile(output: np.ndarray, clean: np.ndarray) -> dict:
    d = output.astype(np.float64) - clean.astype(np.float64)
    mse = float((d**2).mean())
    low = cv2.GaussianBlur(d, (0, 0), 8)
    return {"psnr": 10 * np.log10(255.0**2 / mse), "bias_rgb": d.mean(axis=(0, 1)),
            "low_frequency_share": float((low**2).mean()) / mse}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", required=True, help="a torch checkpoint, PATH[:STEPS]")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--conditions", nargs="+", default=["street_sodium", "low_bitrate"])
    ap.add_argument("--frames", type=int, default=3)
    args = ap.parse_args(argv)
    frames = [(k, v) for k, v in load_split(args.data, "eval").items() if "vtest" in k][:args.frames]
    for spec in args.checkpoint:
        cand = checkpoint_candidates(spec if ":" in spec else spec + ":2", Plan.quick())[0]
        for condition in args.conditions:
            rows = [error_profile(cand.enhance(degrade(clean, CONDITIONS[condition], np.random.default_rng(7))[0], 0),
                    clean) for _, clean in frames]
            bias = np.mean([r["bias_rgb"] for r in rows], axis=0)
            print(f"{cand.name} {condition}: PSNR {np.mean([r['psnr'] for r in rows]):.2f}, mean error RGB "
                  f"({bias[0]:+.1f}, {bias[1]:+.1f}, {bias[2]:+.1f}), low-frequency share "
                  f"{np.mean([r['low_frequency_share'] for r in rows]):.2f} ({len(rows)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
