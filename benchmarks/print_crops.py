"""Plates as an investigator sees them: rectified sign faces, clean / night / model.

    python -m benchmarks.print_crops --condition dusk_led   # -> benchmarks/results/plots/print_crops_dusk_led.png

The print judges' scenes (``export/native_frames.print_backgrounds``: plates
of 8-16 px glyphs pasted into held-out vtest.avi frames before the night
camera), one row per plate: the clean sign, the night frame gained to the clean
frame's mean per channel (what a viewer's brightness slider gives; not an
enhancer), and the model's output, each perspective-corrected at 4x with the
judges' ``rectify``. Each row is labelled with the glyph height and
Tesseract's verdict on the night frame and on the model's output. Why: the
table counts reads; this shows *how* a model loses a plate (contrast, edges,
colour), which the count cannot.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_agent.paths import default_model_path
from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from export.camera_model import CONDITIONS, degrade
from export.judges import judge_print, rectify
from export.native_frames import VTEST_FRAMES, pair_seed, print_backgrounds, read_video_frames, vtest_indices, vtest_path
from export.print_render import render_print

ZOOM = 4


def gained_to(night: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The night frame scaled to the clean frame's mean per channel (a viewer's brightness slider)."""
    gain = clean.reshape(-1, 3).mean(0) / np.maximum(night.reshape(-1, 3).mean(0), 1.0)
    return np.clip(night * gain, 0, 255).astype(np.uint8)


def _row(faces: list[np.ndarray], label: str) -> np.ndarray:
    height = max(f.shape[0] for f in faces)
    faces = [cv2.copyMakeBorder(f, 0, height - f.shape[0], 0, 4, cv2.BORDER_CONSTANT) for f in faces]
    row = cv2.copyMakeBorder(np.concatenate(faces, 1), 14, 2, 0, 0, cv2.BORDER_CONSTANT)
    cv2.putText(row, label, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    return row


def plate_rows(backgrounds: list[tuple[str, np.ndarray]], condition: str,
               enhance: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """One labelled row per text plate of each background's print scene (scene i uses render seed i,
    as the native table does)."""
    rows = []
    for i, (name, background) in enumerate(backgrounds):
        clean, targets = render_print(background, i)
        night, _ = degrade(clean, CONDITIONS[condition], pair_seed(name, condition))
        out = enhance(night)
        on_night, on_out = judge_print(night, targets), judge_print(out, targets)
        for target, a, b in zip(targets, on_night, on_out):
            if target.kind == "text":
                faces = [rectify(im, target, ZOOM, 0) for im in (clean, gained_to(night, clean), out)]
                rows.append(_row(faces, f"{target.size_px:.1f} px  night: {a['verdict']}  model: {b['verdict']}"))
    return rows


def stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    return np.concatenate([cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_path(), help="a bundle (default: the installed one)")
    ap.add_argument("--condition", default="dusk_led", choices=sorted(CONDITIONS))
    ap.add_argument("--scenes", type=int, default=2, help="print scenes (9 targets each, 6 of them text)")
    ap.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "edge-agent" / "debs")
    ap.add_argument("--out", type=Path, help="PNG to write (default benchmarks/results/plots/print_crops_COND.png)")
    args = ap.parse_args(argv)
    video = vtest_path(args.debs)
    if not video.exists():
        raise SystemExit(f"error: {video} not found; run `python -m export.sources --out data` first (it fetches it)")
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    indices = print_backgrounds(vtest_indices(total, VTEST_FRAMES), args.scenes)
    frames = read_video_frames(video, indices)
    enhancer = Enhancer(load_bundle(args.model), EnhanceSettings(backend="openvino", precision="int8"))
    rows = plate_rows([(f"print_{i:04d}", frames[i]) for i in indices], args.condition,
                      lambda night: enhancer.enhance(night, enhancer.seed))
    out = args.out or Path(f"benchmarks/results/plots/print_crops_{args.condition}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), stack(rows)[..., ::-1])
    print(f"{len(rows)} plates, {args.condition}, {enhancer.bundle.name} {enhancer.bundle.version} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
