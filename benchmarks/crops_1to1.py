"""Before/after crops at 1:1 pixel scale on held-out real surveillance frames.

    python -m benchmarks.crops_1to1        # -> benchmarks/results/plots/crops_1to1.png

Each row is one vtest.avi frame (768x576, never trained on) under one night
condition; columns are the night input as the camera delivers it, the two
classical peers, the shipped model (OpenVINO INT8, its default steps) and the
clean frame. Crops are cut from the full-resolution outputs and never
resampled (PNG, lossless), so what is shown is what an operator sees.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edge_agent.paths import default_model_path
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from export.camera_model import CONDITIONS, degrade
from export.dataset import _pair_seed, load_split
from export.peers import clahe_nlm, gamma_wb_nlm

ROWS = [("vtest_0200", "street_sodium"), ("vtest_0440", "very_dark"), ("vtest_0680", "cctv_isp")]
CROP = (170, 220, 240, 320)  # y, x, height, width: the walkway where people pass


def labelled(rgb: np.ndarray, label: str) -> np.ndarray:
    bar = np.full((22, rgb.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, rgb], axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="1:1 before/after crops on real CCTV frames.")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/plots/crops_1to1.png"))
    args = ap.parse_args(argv)
    bundle = load_bundle(args.model)
    model = Enhancer(bundle, EnhanceSettings())
    frames = load_split(args.data, "eval")
    y, x, h, w = CROP
    rows = []
    for name, condition in ROWS:
        night, clean = degrade(frames[name], CONDITIONS[condition], np.random.default_rng(_pair_seed(name, condition)))
        columns = [(f"{condition}: night input", night), ("gamma + grey-world + NLM", gamma_wb_nlm(night)),
                   ("CLAHE + NLM", clahe_nlm(night)), (f"{bundle.name} {bundle.version}", model.enhance(night)),
                   ("clean", clean)]
        rows.append(np.concatenate([labelled(img[y:y + h, x:x + w], label) for label, img in columns], axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.concatenate(rows, axis=0)[..., ::-1])
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
