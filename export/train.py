"""Train the conditional diffusion teacher from a YAML config.

    python -m export.train --config export/configs/teacher_cpu.yaml
    torchrun --nproc_per_node=4 -m export.train --config export/configs/teacher_gpu.yaml

Resumes from ``<out>/last.pt`` when it exists (weights, EMA, optimiser, step
and the log of where each stretch of training ran), so training accumulates
across sessions and machines. Mixed precision (bf16) and channels-last on
GPU; data-parallel with torchrun.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import threading
import time
from typing import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from edge_agent.progress import Progress

from .config_file import load_recipe
from .dataset import NightPairs, ReplayBatches, load_split
from .losses import gradient_l1
from .network import Denoiser, NetConfig, loss_weight


@dataclass
class TrainConfig:
    data: str = "data"
    out: str = "checkpoints/teacher"
    net: dict = field(default_factory=dict)
    iterations: int = 20000
    batch: int = 16
    crop: int = 128
    lr: float = 1e-3
    lr_warmup: int = 500
    lr_anneal_start: int = 0  # from this step the lr falls linearly to lr * lr_anneal_to at `iterations` (0: constant)
    lr_anneal_to: float = 0.1
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    p_mean: float = -0.4  # EDM's log-normal sigma distribution ...
    p_std: float = 1.0
    uniform_fraction: float = 0.5  # ... mixed with log-uniform over the sampler's range
    sigma_min: float = 0.05
    sigma_max: float = 40.0
    checkpoint_every: int = 1000
    workers: int = 0
    seed: int = 0
    compile: bool = False
    threads: int = 0  # torch intra-op threads on CPU (0 = torch's default)
    bf16: str = "auto"  # bf16 autocast: on, off, or auto (CUDA, or a CPU with AMX / AVX-512 BF16)
    edge_weight: float = 0.0  # L1 on image gradients of the denoised frame (L2 alone smooths edges and print)
    print_fraction: float = 0.0
    replay_pool: int = 0  # >0: draw batches from a pool of this many degraded pairs (dataset.ReplayBatches) ...
    replay_fresh: int = 2  # ... replacing this many per step (the camera model is as slow as a CPU step)  # share of crops with rendered print (text, codes) pasted in before the night
    white_point_jitter: float = 0.0  # sigma of log per-channel gains of the clean scene (dataset.jitter_white_point)
    init_from: str = ""  # start from this checkpoint's weights when <out>/last.pt does not exist yet;
    # the network may add stages that start as the identity (e.g. net.refine), nothing else may differ

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return load_recipe(cls, path)


def sample_sigmas(cfg: TrainConfig, n: int, device: torch.device) -> torch.Tensor:
    lognormal = (torch.randn(n, device=device) * cfg.p_std + cfg.p_mean).exp()
    lo, hi = torch.tensor([cfg.sigma_min, cfg.sigma_max]).log()
    uniform = (torch.rand(n, device=device) * (hi - lo) + lo).exp()
    pick = torch.rand(n, device=device) < cfg.uniform_fraction
    return torch.where(pick, uniform, lognormal)


def edm_loss(model: torch.nn.Module, clean: torch.Tensor, night: torch.Tensor, sigma: torch.Tensor,
             edge_weight: float = 0.0) -> torch.Tensor:
    """EDM's weighted L2 on the denoised frame, plus an optional gradient-L1
    term: at the large sigmas a few-step sampler starts from, L2 alone
    learns the blurred mean of plausible frames and erases small print."""
    x0 = clean * 2 - 1
    noisy = x0 + torch.randn_like(x0) * sigma[:, None, None, None]
    denoised = model(noisy, sigma, night).float()
    loss = (loss_weight(sigma)[:, None, None, None] * (denoised - x0) ** 2).mean()
    if edge_weight:
        loss = loss + edge_weight * gradient_l1(denoised, x0)
    return loss


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast where the hardware runs it natively (measured with export.train_speed)."""
    if cfg.bf16 in ("on", "off"):
        return cfg.bf16 == "on"
    return device.type == "cuda" or cpu_has_fast_bf16()


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16: where bf16 autocast speeds up a CPU (elsewhere it slows it down)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def describe_hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} x{dist.get_world_size() if dist.is_initialized() else 1}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def setup_device() -> tuple[torch.device, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local), rank, world
    return torch.device("cpu"), rank, world


class StopRequest:
    """SIGINT/SIGTERM end training at the next iteration boundary, after a
    checkpoint, instead of losing the work since the last one."""

    def __init__(self) -> None:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle)

    def _handle(self, *_: object) -> None:
        self.requested = True


def run_steps(step: int, iterations: int, one_step: Callable[[int], float], save: Callable[[int], None],
              checkpoint_every: int, max_minutes: float | None, bar: Progress) -> int:
    """The loop both trainers share: ``one_step(step)`` returns its loss;
    checkpoints every ``checkpoint_every`` steps, at a time limit, at SIGINT or
    SIGTERM and at the end. Returns the last step done."""
    stop, t0, running = StopRequest(), time.monotonic(), None
    while step < iterations and not stop.requested:
        loss = one_step(step)
        step += 1
        running = loss if running is None else 0.98 * running + 0.02 * loss
        bar.update(1, f"loss {running:.4f}")
        if step % checkpoint_every == 0:
            save(step)
        if max_minutes is not None and time.monotonic() - t0 > max_minutes * 60:
            break
    save(step)
    bar.close()
    return step


def save_checkpoint(state: dict, path: Path) -> None:
    """Atomic: a run killed mid-write never leaves a half checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def optimise(loss: torch.Tensor, model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer,
             ema_decay: float) -> None:
    """One optimiser step with gradient clipping, then the EMA update."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    update_ema(ema, model, ema_decay)


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - decay)


def learning_rate(cfg: TrainConfig, step: int, opt_start: int = 0) -> float:
    """Linear warm-up of a fresh optimiser, then constant, then an optional
    linear anneal over the last stretch (EMA weights gain most from it)."""
    lr = cfg.lr * min(1.0, (step - opt_start + 1) / cfg.lr_warmup)
    return annealed(lr, step, cfg.lr_anneal_start, cfg.lr_anneal_to, cfg.iterations)


def annealed(lr: float, step: int, start: int, to: float, iterations: int) -> float:
    """``lr`` until ``start`` (0: always), then falling linearly to ``lr * to`` at ``iterations``."""
    if not start or step < start:
        return lr
    return lr * (1 - (1 - to) * min(1.0, (step - start) / max(1, iterations - start)))


def load_into_grown(model: Denoiser, state: dict) -> None:
    """Load a network's weights into ``model``, which may add a refinement stage (left as initialised)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("net.refine.") for k in missing), (missing, unexpected)


def grow_from(path: Path, model: Denoiser, ema: Denoiser, device: torch.device) -> tuple[int, list]:
    """Load a trained checkpoint into a network that may add identity-initialised
    stages; returns its step and history so the record stays cumulative."""
    if not path.is_file():
        raise SystemExit(f"error: init_from {path}: no such checkpoint; allowed: a file written by export.train")
    ckpt = torch.load(path, map_location=device, weights_only=False)
    source = {**NetConfig(**ckpt["net"]).to_dict(), "refine": 0}
    target_cfg = {**model.net.cfg.to_dict(), "refine": 0}
    if source != target_cfg or ckpt["net"].get("refine", 0):
        raise SystemExit(f"error: init_from {path}: networks differ beyond an added refinement stage "
                         f"(checkpoint {ckpt['net']}, config {model.net.cfg.to_dict()}); allowed: the same net plus refine")
    for target, key in ((model, "model"), (ema, "ema")):
        load_into_grown(target, ckpt[key])
    history = ckpt.get("history", []) + [{"init_from": str(path), "step": ckpt["step"], "net": ckpt["net"]}]
    return ckpt["step"], history


def train(cfg: TrainConfig, max_minutes: float | None = None, quiet: bool = False) -> Path:
    device, rank, world = setup_device()
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    net_cfg = NetConfig(**cfg.net)
    model = Denoiser(net_cfg).to(device)
    ema = Denoiser(net_cfg).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    cuda = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=cuda or None)
    step, history, opt_start = 0, [], 0
    last = out / "last.pt"
    if last.exists():
        ckpt = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history, opt_start = ckpt["step"], ckpt.get("history", []), ckpt.get("opt_start", 0)
    elif cfg.init_from:
        step, history = grow_from(Path(cfg.init_from), model, ema, device)
        opt_start = step
    model = model.to(memory_format=torch.channels_last)  # faster on GPU and on CPU (oneDNN): measured 1.5x on 2 cores
    train_model = torch.compile(model) if cfg.compile else model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(train_model, device_ids=[device.index] if cuda else None)
    data = NightPairs(load_split(Path(cfg.data), "train"), cfg.crop, seed=cfg.seed * 1_000_003 + step,
                      print_fraction=cfg.print_fraction,
                      white_point_jitter=cfg.white_point_jitter)
    bf16 = use_bf16(cfg, device)
    if cfg.replay_pool:
        loader = ReplayBatches(iter(data), cfg.replay_pool, cfg.replay_fresh, cfg.batch, seed=cfg.seed + step)
    else:
        loader = iter(DataLoader(data, batch_size=cfg.batch, num_workers=cfg.workers, pin_memory=cuda))
    segment = {"hardware": describe_hardware(device), "start_step": step, "seconds": 0.0,  # and its own config:
               "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.__dict__.items()}}
    history.append(segment)
    bar = Progress(cfg.iterations, "train", enabled=rank == 0 and not quiet, initial=step)
    t0 = time.monotonic()

    def save(step: int) -> None:
        if rank != 0:
            return
        segment.update(end_step=step, seconds=round(time.monotonic() - t0, 1))
        save_checkpoint({"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                         "step": step, "opt_start": opt_start, "config": cfg.__dict__, "net": net_cfg.to_dict(),
                         "history": history}, last)

    def one_step(step: int) -> float:
        night, clean = (t.to(device, non_blocking=True) for t in next(loader))
        night, clean = (t.contiguous(memory_format=torch.channels_last) for t in (night, clean))
        sigma = sample_sigmas(cfg, clean.shape[0], device)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step, opt_start)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = edm_loss(train_model, clean, night, sigma, cfg.edge_weight)
        optimise(loss, model, ema, opt, cfg.ema_decay)
        return loss.item()

    run_steps(step, cfg.iterations, one_step, save, cfg.checkpoint_every, max_minutes, bar)
    if world > 1:
        dist.destroy_process_group()
    return last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the conditional diffusion teacher.")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (and checkpoint) after this long")
    ap.add_argument("--iterations", type=int, default=None, help="override the config's total iterations")
    args = ap.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    if args.iterations is not None:
        cfg.iterations = args.iterations
    print(train(cfg, args.max_minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
