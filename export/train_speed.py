"""Measure training throughput of a network config on this machine, before choosing a recipe.

    python -m export.train_speed --config export/configs/teacher_v2_cpu.yaml [--bf16 auto|on|off]
                                 [--compile] [--iterations 20] [--batch N] [--crop N]

Times forward + backward + optimiser step on random tensors (the data
pipeline is measured apart: ``--data`` times making the degraded pairs), and
prints crops per second, iterations per second and GMAC per step at 1280x720.
bf16 autocast pays off only on CPUs with AVX-512 BF16 or AMX (``auto`` checks
/proc/cpuinfo for them).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .network import Denoiser, NetConfig, count_macs
from .train import TrainConfig, cpu_has_fast_bf16, edm_loss, sample_sigmas


def time_steps(cfg: TrainConfig, bf16: bool, compile_model: bool, iterations: int) -> float:
    """Seconds per training iteration (median after two warm-up iterations)."""
    model = Denoiser(NetConfig(**cfg.net)).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    run = torch.compile(model) if compile_model else model
    clean = torch.rand(cfg.batch, 3, cfg.crop, cfg.crop).contiguous(memory_format=torch.channels_last)
    night = (clean * 0.1).contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(iterations + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = edm_loss(run, clean, night, sample_sigmas(cfg, cfg.batch, torch.device("cpu")), cfg.edge_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_data(cfg: TrainConfig, batches: int) -> float:
    """Seconds to make one batch of degraded pairs in this process."""
    from .dataset import NightPairs, load_split

    pairs = iter(NightPairs(load_split(Path(cfg.data), "train"), cfg.crop, seed=0, print_fraction=cfg.print_fraction))
    t0 = time.perf_counter()
    for _ in range(batches * cfg.batch):
        next(pairs)
    return (time.perf_counter() - t0) / batches


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Training throughput of a config on this machine.")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--data", action="store_true", help="also time the data pipeline")
    args = ap.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    cfg.batch = args.batch or cfg.batch
    cfg.crop = args.crop or cfg.crop
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = cpu_has_fast_bf16() if args.bf16 == "auto" else args.bf16 == "on"
    sec = time_steps(cfg, bf16, args.compile, args.iterations)
    gmac = count_macs(Denoiser(NetConfig(**cfg.net)), 720, 1280) / 1e9
    report = {"net": cfg.net, "batch": cfg.batch, "crop": cfg.crop, "bf16": bf16, "compile": args.compile,
              "threads": torch.get_num_threads(), "s_per_iteration": round(sec, 3),
              "crops_per_s": round(cfg.batch / sec, 1), "gmac_per_step_720p": round(gmac, 2)}
    if args.data:
        report["data_s_per_batch"] = round(time_data(cfg, 3), 3)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
