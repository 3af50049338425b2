"""Score enhancers on the fixed held-out split, next to the classical peers.

    python -m export.evaluate --teacher checkpoints/teacher/last.pt checkpoints/teacher_refine/last.pt \
        --student checkpoints/student/last.pt --bundle edge_agent/models/default \
        --out benchmarks/results/quality

Every enhancer sees identical inputs (seeded per frame and condition). The
table reports PSNR, PSNR after matching mean brightness (PSNR-m), SSIM and
CIEDE2000 on held-out photos and on held-out real surveillance frames
(vtest.avi, never trained on), per night condition, and temporal flicker on a
static-camera clip. Torch models run through the runtime's own numpy sampler.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from edge_agent.progress import track
from edge_agent.runtime.sampler import SAMPLERS, karras_sigmas, seeded_noise

from .camera_model import CONDITIONS, degrade
from .dataset import eval_pairs, fit_multiple, load_split
from .metrics import all_metrics, moving_psnr, temporal_flicker
from .network import Denoiser
from .onnx_export import load_denoiser
from .peers import PEERS

Enhance = Callable[[np.ndarray], np.ndarray]
TEACHER_SIGMA_MIN, TEACHER_SIGMA_MAX = 0.05, 40.0
FEW_STEP_SIGMA_MIN = 0.03  # export/configs/student_cpu.yaml


def torch_enhancer(model: Denoiser, sampler: str, sigmas: list[float], seed: int = 0) -> Enhance:
    """A torch denoiser driven by the runtime's sampler (one sampler everywhere)."""

    def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(sigma), torch.from_numpy(cond)).numpy()

    def enhance(night: np.ndarray) -> np.ndarray:
        cond = np.ascontiguousarray((night.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
        out = SAMPLERS[sampler](denoise, cond, sigmas, seeded_noise(seed, cond.shape))
        return np.round(np.clip((out[0].transpose(1, 2, 0) + 1) * 127.5, 0, 255)).astype(np.uint8)

    return enhance


def teacher_settings(teacher: Denoiser) -> dict[str, Enhance]:
    """The teacher's full sampler and its few-step Euler settings, by name."""
    settings = {"heun-16 (full)": torch_enhancer(
        teacher, "heun", karras_sigmas(16, TEACHER_SIGMA_MIN, TEACHER_SIGMA_MAX).tolist())}
    for n in (1, 2, 4):  # on the student recipe's schedules (last step from 0.03); 1 step is D at sigma_max
        settings[f"euler-{n}"] = torch_enhancer(
            teacher, "euler", karras_sigmas(n, FEW_STEP_SIGMA_MIN, TEACHER_SIGMA_MAX).tolist())
    return settings


def build_enhancers(args: argparse.Namespace) -> dict[str, Enhance]:
    enhancers: dict[str, Enhance] = dict(PEERS)
    for path in args.teacher or []:  # several: each labelled by its checkpoint folder
        label = "teacher" if len(args.teacher) == 1 else path.parent.name
        for setting, enhance in teacher_settings(load_denoiser(path)).items():
            enhancers[f"{label} {setting}"] = enhance
    if args.student:
        ckpt = torch.load(args.student, map_location="cpu", weights_only=False)
        student = load_denoiser(args.student)
        for n, sigmas in sorted(ckpt["schedules"].items(), reverse=True):
            enhancers[f"student {n}-step (torch)"] = torch_enhancer(student, "euler", sigmas)
    if args.bundle:
        bundle = load_bundle(args.bundle)
        for backend, precision in (("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "int8")):
            e = Enhancer(bundle, EnhanceSettings(backend=backend, precision=precision))
            enhancers[f"bundle {backend} {precision} {e.steps}-step"] = e.enhance
    return enhancers


def score(enhancers: dict[str, Enhance], pairs: list[dict]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name, enhance in enhancers.items():
        rows, seconds = [], 0.0
        for pair in track(pairs, len(pairs), f"eval {name}"):
            t = time.perf_counter()
            out = enhance(pair["night"])
            seconds += time.perf_counter() - t
            rows.append({"name": pair["name"], "condition": pair["condition"], **all_metrics(out, pair["clean"])})
        results[name] = {"rows": rows, "seconds_per_frame": seconds / max(1, len(pairs))}
    return results


def bundle_streams(bundle_path: Path | None) -> dict[str, Callable[[], Enhance]]:
    """The shipped setting on video: one stream object (seed + temporal filter) per clip."""
    if bundle_path is None:
        return {}
    bundle = load_bundle(bundle_path)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="openvino", precision="int8"))
    return {f"bundle openvino int8 {enhancer.steps}-step + temporal filter": lambda: StreamEnhancer(enhancer)}


def flicker(enhancers: dict[str, Enhance], streams: dict[str, Callable[[], Enhance]], data: Path,
            max_side: int, condition: str = "street_sodium") -> dict[str, dict]:
    """Static-camera clip, fresh sensor noise every frame. Per-frame enhancers
    and stream enhancers (new state per clip) side by side; the PSNR on moving
    pixels shows whether a temporal method smears moving people."""
    clip = [fit_multiple(f, max_side, 16) for f in load_split(data, "eval_clip").values()]
    night = [degrade(f, CONDITIONS[condition], np.random.default_rng(1000 + i))[0] for i, f in enumerate(clip)]
    out = {"clean clip": {"flicker": temporal_flicker(clip, clip), "psnr": float("nan"), "moving_psnr": float("nan")}}
    for name, make in {**{n: (lambda e=e: e) for n, e in enhancers.items()}, **streams}.items():
        enhance = make()
        frames = [enhance(n) for n in night]
        psnrs = [all_metrics(o, c)["psnr"] for o, c in zip(frames, clip)]
        out[name] = {"flicker": temporal_flicker(frames, clip), "psnr": float(np.mean(psnrs)),
                     "moving_psnr": moving_psnr(frames, clip)}
    return out


def summarise(results: dict[str, dict]) -> dict[str, dict]:
    summary = {}
    for name, res in results.items():
        rows = res["rows"]
        groups = {"held-out photos": [r for r in rows if not r["name"].startswith("vtest")],
                  "vtest (real CCTV)": [r for r in rows if r["name"].startswith("vtest")]}
        entry: dict = {"seconds_per_frame": res["seconds_per_frame"]}
        for g, rs in {"all": rows, **groups}.items():
            if rs:
                entry[g] = {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "psnr_m", "ssim", "de2000")}
        entry["per_condition"] = {c: {k: float(np.mean([r[k] for r in rows if r["condition"] == c]))
                                      for k in ("psnr", "ssim")} for c in CONDITIONS}
        summary[name] = entry
    return summary


def markdown(summary: dict[str, dict], flick: dict[str, dict], meta: dict) -> str:
    lines = [f"Held-out split: {meta['pairs']} pairs ({meta['frames']} frames x {len(CONDITIONS)} night conditions), "
             f"frames at most {meta['max_side']} px. Machine: {meta['machine']}. Command: `{meta['command']}`", "",
             "| enhancer | PSNR | PSNR-m | SSIM | CIEDE2000 | vtest PSNR | vtest SSIM | s/frame |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in summary.items():
        a, v = e["all"], e.get("vtest (real CCTV)", {"psnr": float("nan"), "ssim": float("nan")})
        lines.append(f"| {name} | {a['psnr']:.2f} | {a['psnr_m']:.2f} | {a['ssim']:.3f} | {a['de2000']:.2f} | "
                     f"{v['psnr']:.2f} | {v['ssim']:.3f} | {e['seconds_per_frame']:.3f} |")
    lines += ["", "Per condition (PSNR / SSIM):", "",
              "| enhancer | " + " | ".join(CONDITIONS) + " |", "| --- |" + " --- |" * len(CONDITIONS)]
    for name, e in summary.items():
        cells = [f"{e['per_condition'][c]['psnr']:.1f} / {e['per_condition'][c]['ssim']:.2f}" for c in CONDITIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if flick:
        lines += ["", "Temporal flicker on a static-camera clip (vtest.avi, street_sodium, fresh noise per frame):", "",
                  "| enhancer | flicker (mean abs change on static pixels, 0-255) | clip PSNR | PSNR on moving pixels |",
                  "| --- | --- | --- | --- |"]
        for name, f in flick.items():
            lines.append(f"| {name} | {f['flicker']:.2f} | {f['psnr']:.2f} | {f.get('moving_psnr', float('nan')):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate enhancers against classical peers on the held-out split.")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--teacher", type=Path, nargs="+", help="one or more teacher checkpoints")
    ap.add_argument("--student", type=Path)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--limit", type=int, default=None, help="at most this many held-out frames")
    ap.add_argument("--no-flicker", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    args = ap.parse_args(argv)
    pairs = eval_pairs(args.data, args.max_side, limit=args.limit)
    enhancers = build_enhancers(args)
    summary = summarise(score(enhancers, pairs))
    flick = {} if args.no_flicker else flicker(enhancers, bundle_streams(args.bundle), args.data, args.max_side)
    from edge_agent.measure import cpu_name

    meta = {"pairs": len(pairs), "frames": len({p["name"] for p in pairs}), "max_side": args.max_side,
            "machine": f"{cpu_name()}, {torch.get_num_threads()} threads, {platform.system()}",
            "command": "python -m export.evaluate " + " ".join(argv if argv is not None else __import__("sys").argv[1:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": summary, "flicker": flick}, indent=1))
    table = markdown(summary, flick, meta)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
