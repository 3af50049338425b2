"""Where a bundle's SSIM is lost: oracle repairs of its output, on the quick plan's real CCTV stills.

Each column replaces one part of the enhanced frame with the clean frame's (an oracle no camera has)
and scores SSIM again; what a repair gains is what that part costs today. A global tone repair that
gains little means exposure and cast are not the problem; a repair of the scales above 2 px that gains
much means the missing SSIM is detail and structure the network does not recover. Unsharp masks ask
whether the output is merely soft (more contrast at 1-4 px) or wrong there. The last row is the
output's 1-4 px band energy over the clean frame's.

    python -m benchmarks.ssim_headroom [--bundle edge_agent/models/default] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.runtime.monochrome import LUMA_WEIGHTS
from edge_agent.measure import cpu_name
from export import native_frames as nf
from export.camera_model import CONDITIONS, degrade
from export.metrics import psnr, ssim

Repair = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (output, clean) float64 RGB -> repaired output


def _low(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def affine_tone(out: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per channel gain and offset fitted to the clean frame: the best global exposure and cast."""
    fitted = np.empty_like(out)
    for c in range(3):
        design = np.stack([out[..., c].ravel(), np.ones(out[..., c].size)], axis=1)
        (gain, offset), *_ = np.linalg.lstsq(design, clean[..., c].ravel(), rcond=None)
        fitted[..., c] = out[..., c] * gain + offset
    return fitted


def clean_above(sigma: float) -> Repair:
    """The clean frame's content above ``sigma`` px, the output's below it."""
    return lambda out, clean: out - _low(out, sigma) + _low(clean, sigma)


def unsharp(sigma: float, amount: float) -> Repair:
    return lambda out, clean: out + amount * (out - _low(out, sigma))


REPAIRS: dict[str, Repair] = {
    "as shipped": lambda out, clean: out,
    "oracle tone (affine per channel)": affine_tone,
    "oracle above 8 px": clean_above(8.0),
    "oracle above 2 px": clean_above(2.0),
    "unsharp 1 px x0.5": unsharp(1.0, 0.5),
    "unsharp 2 px x0.5": unsharp(2.0, 0.5),
}


def band_ratio(out: np.ndarray, clean: np.ndarray) -> float:
    """Standard deviation of the 1-4 px luma band, output over clean (1: as much mid-scale contrast)."""
    def band(img: np.ndarray) -> np.ndarray:
        luma = img @ LUMA_WEIGHTS
        return _low(luma, 1.0) - _low(luma, 4.0)
    return float(band(out).std() / max(band(clean).std(), 1e-9))


def score(out: np.ndarray, clean: np.ndarray) -> dict[str, tuple[float, float]]:
    """(SSIM, PSNR) of every repair of one enhanced frame, rounded to uint8 as a frame would be."""
    o, c = out.astype(np.float64), clean.astype(np.float64)
    scores = {}
    for name, fix in REPAIRS.items():
        repaired = np.clip(np.round(fix(o, c)), 0, 255)
        scores[name] = (ssim(repaired, c), psnr(repaired, c))
    return scores


def table(rows: list[dict], conditions: list[str]) -> str:
    head = "| repair | " + " | ".join(conditions) + " | all: SSIM / PSNR |"
    lines = [head, "|" + " --- |" * (len(conditions) + 2)]
    for name in REPAIRS:
        per = [np.mean([r["repairs"][name][0] for r in rows if r["condition"] == c]) for c in conditions]
        ssims, psnrs = zip(*(r["repairs"][name] for r in rows))
        lines.append(f"| {name} | " + " | ".join(f"{p:.3f}" for p in per)
                     + f" | {np.mean(ssims):.3f} / {np.mean(psnrs):.2f} |")
    per = [np.mean([r["band_ratio"] for r in rows if r["condition"] == c]) for c in conditions]
    lines.append("| 1-4 px band std, output / clean | " + " | ".join(f"{p:.2f}" for p in per) + " | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("edge_agent/models/default"))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    ap.add_argument("--out", type=Path, default=None, help="folder for ssim_headroom.md and .json")
    args = ap.parse_args(argv)
    plan = nf.Plan.quick()
    frames = nf.load_frames(plan, args.data, args.debs)
    bundle = load_bundle(args.bundle)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="openvino", precision="int8"))
    rows = []
    for name, (group, clean) in frames.stills.items():
        if group != "real CCTV":
            continue
        for cond in plan.conditions:
            night, target = degrade(clean, CONDITIONS[cond], nf.pair_seed(name, cond))
            out = enhancer.enhance(night, enhancer.seed)
            rows.append({"name": name, "condition": cond, "repairs": score(out, target),
                         "band_ratio": band_ratio(out.astype(np.float64), target.astype(np.float64))})
    command = "python -m benchmarks.ssim_headroom " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"_{bundle.name} {bundle.version}, OpenVINO INT8, its own settings; {len(rows)} pairs: the quick plan's "
            f"real CCTV stills x {len(plan.conditions)} conditions. Machine: {cpu_name()}. Command: `{command}`_\n\n"
            + table(rows, list(plan.conditions)) + "\n")
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ssim_headroom.md").write_text(text)
        (args.out / "ssim_headroom.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
