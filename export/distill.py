"""Distil the teacher into a 2-4 step student.

Method: progressive distillation (Salimans & Ho, 2022) generalised to the EDM/Euler setting and to
several step counts at once. The student starts from the teacher's own (EMA) weights (a narrow student
trained from scratch does not converge in minutes, ../shared/FINDINGS.md) and learns to land, in *one*
Euler step from sigma_i to sigma_{i+1} of a K-step schedule (K in {2, 3, 4}), where the teacher lands in
two Heun sub-steps. The target of the student's denoiser is solved from the Euler update:

    x_next = D + (x - D) * r,  r = sigma_{i+1} / sigma_i   =>   D* = (x_teacher - r x) / (1 - r)

Why: it starts from the teacher's weights (cheap to converge on a CPU), keeps the runtime's deterministic
ODE sampler, and all K in one network let the box trade steps for speed. A data term (the EDM loss at the
same sigma, ``data_weight``) anchors the student to the clean frames where the teacher is imperfect.
"""
from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from edge_agent.progress import Progress
from edge_agent.runtime.sampler import karras_sigmas

from .camera_model import EXPOSURE_RANGE, sample_params
from .config_file import load_recipe
from .dataset import NightPairs, ReplayBatches, load_split, source_scales
from .network import Denoiser, NetConfig, loss_weight
from .tone_anchor_torch import anchor_to_night
from .grow import grown_student
from .losses import gradient_l1, ssim_loss
from .train import annealed, describe_hardware, optimise, run_steps, save_checkpoint, use_bf16


@dataclass
class DistillConfig:
    data: str = "data"
    teacher: str = "checkpoints/teacher/last.pt"
    out: str = "checkpoints/student"
    steps: tuple[int, ...] = (2, 3, 4)
    sigma_min: float = 0.1  # the last step of a few-step schedule must still remove real noise
    sigma_max: float = 40.0
    rho: float = 7.0
    iterations: int = 3000
    batch: int = 12
    crop: int = 128
    lr: float = 2e-4
    lr_anneal_start: int = 0  # see TrainConfig: from this step the lr falls linearly to lr * lr_anneal_to
    lr_anneal_to: float = 0.1
    ema_decay: float = 0.995
    data_weight: float = 0.5
    # weight of the progressive-distillation term (match the teacher's two Heun substeps); 0 skips the
    # teacher entirely: the student then learns its own schedule from the data alone (see the v2 config)
    teacher_weight: float = 1.0
    edge_weight: float = 0.0  # gradient-L1 on the data term, as in the teacher's recipe
    # 1 - luma SSIM (export.losses.ssim_loss, the native table's SSIM) of the shown frame against the clean one.
    # Why: L2 trades local contrast and structure for its last fraction of a dB; SSIM is a target of its own
    ssim_weight: float = 0.0
    # low-frequency anchor: the student's denoised frame, average-pooled by colour_anchor_pool, is pulled
    # towards that of this checkpoint (frozen) at the same input. Why: training on the 87 scenes moves the
    # global colour and exposure of held-out footage (export/README.md), while detail and print improve;
    # the anchor keeps the colour of the checkpoint that renders it best and leaves the detail to the data
    colour_anchor: str = ""
    colour_anchor_weight: float = 0.0
    colour_anchor_pool: int = 8
    checkpoint_every: int = 250
    seed: int = 1
    white_point_jitter: float = 0.0  # see TrainConfig
    print_fraction: float = 0.0  # see TrainConfig: the same data recipe as the teacher's
    # TrueType faces for half the pasted text (print_augment.render_text_truetype); empty: Hershey only
    print_fonts: tuple[str, ...] = ()
    # pixels covered by pasted print weigh 1 + print_weight in the data and edge terms. Why: print is a
    # few percent of a crop's pixels but what an investigator needs; a thinned stem reads as another
    # letter (the wrong reads of v4), an error the crop-mean loss barely sees
    print_weight: float = 0.0
    # pasted print in all 8 orientations (print_augment.random_dihedral): strokes without a letter prior
    print_dihedral: bool = False
    # mirrored-pair term: the student's one call is pulled towards the frozen teacher's mirrored pair at
    # the same noise level (mirrored_pair below). Why: 0.4.0 spends two calls per frame on that pair; a
    # student that gives it in one call halves the latency, or frees the budget for a wider network
    pair_weight: float = 0.0
    # width of a full-resolution refinement stage grown onto the starting weights (network.FullResRefine;
    # it starts as the identity, so the student starts as the network it grows from; 0: the same network).
    # Why: the unshuffle-2 stem carries each 2x2 block in a few features; 8-11 px glyphs come out softer
    # than the night input holds them at dusk (benchmarks/results/session12)
    refine: int = 0
    refine_sees_noise: bool = True  # network.NetConfig.refine_sees_noise for a grown stage
    refine_sees_gained: bool = False  # network.NetConfig.refine_sees_gained for a grown stage
    # the grown stage's learning rate, as a multiple of lr. Why: its output starts at zero and at the
    # trained network's lr it moved 0.5 of 255 levels in 4,250 iterations (v10, session 12)
    refine_lr_scale: float = 1.0
    # U-Net widths to grow the starting weights into (export/grow.py: the same function at the start; empty:
    # as they are). Why: one call of a wider network for the budget of the mirrored pair's two narrow ones
    channels: tuple[int, ...] = ()
    # the weights the student starts from, when not the teacher's (the teacher stays the pair target)
    init: str = ""
    # exposures the camera model draws (camera_model.EXPOSURE_RANGE by default). Why widen the top: students
    # trained up to 1/4 fall 4-6 dB below the gained night frame at dusk (GT-mean, session 13)
    exposure_range: tuple[float, float] = EXPOSURE_RANGE
    # anchor, teacher and pair terms follow older networks, blind to exposures above this (0: they judge every item)
    old_model_max_exposure: float = 0.0
    # train through the runtime's tone anchor of this many px (the bundle's sampler.tone_anchor; 0: off): the
    # data, edge and pair terms judge the anchored frame, whose coarse tone the network no longer has to draw
    tone_anchor: float = 0.0
    replay_pool: int = 0
    replay_fresh: int = 2
    # odds of drawing a scene, per source package of the dataset's index (1 for any not named), on top of
    # the square root of its area. Why: data_wide's 115 added photographs are large and took 64 % of the
    # draws from the 87 scenes the students were made on (v29: real CCTV up, the street photos down)
    source_weights: dict[str, float] = field(default_factory=dict)
    threads: int = 0
    bf16: str = "auto"

    @classmethod
    def load(cls, path: Path) -> "DistillConfig":
        cfg = load_recipe(cls, path)
        try:
            sample_params(np.random.default_rng(0), cfg.exposure_range)
        except (ValueError, TypeError) as exc:
            raise SystemExit(f"error: {path}: {exc}") from None
        return cfg

    def schedules(self) -> dict[int, list[float]]:
        return {k: karras_sigmas(k, self.sigma_min, self.sigma_max, self.rho).tolist() for k in self.steps}


def heun_two_substeps(teacher: Denoiser, x: torch.Tensor, s0: torch.Tensor, s2: torch.Tensor,
                      cond: torch.Tensor) -> torch.Tensor:
    """Teacher: two Heun steps from s0 to s2 via their geometric midpoint (Euler for a last one to 0)."""
    s1 = torch.where(s2 > 0, (s0 * s2.clamp_min(1e-8)).sqrt(), s0 * 0.1)
    for a, b in ((s0, s1), (s1, s2)):
        av, bv = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
        d = (x - teacher(x, a, cond)) / av
        x_euler = x + d * (bv - av)
        safe_b = torch.where(b > 0, b, torch.ones_like(b))
        d2 = (x_euler - teacher(x_euler, safe_b, cond)) / safe_b.view(-1, 1, 1, 1)
        x = torch.where((b > 0).view(-1, 1, 1, 1), x + (d + d2) / 2 * (bv - av), x_euler)
    return x


def mirrored_pair(teacher: Denoiser, x0: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor,
                  cond: torch.Tensor) -> torch.Tensor:
    """The runtime's mirrored pair (``Enhancer.views``) for this input: the mean of the teacher at ``x`` and,
    mirrored back, the teacher on the mirrored frame at independent noise of the same level around ``x0``."""
    other = (x0 + torch.randn_like(x0) * sigma.view(-1, 1, 1, 1)).flip(3)
    return 0.5 * (teacher(x, sigma, cond) + teacher(other, sigma, cond.flip(3)).flip(3))


def frozen(ckpt: dict) -> Denoiser:
    """A checkpoint's EMA network, frozen, channels-last (1.5x faster convolutions on CPU too)."""
    net = Denoiser(NetConfig(**ckpt["net"]))
    net.load_state_dict(ckpt["ema"])
    return net.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def distill(cfg: DistillConfig, max_minutes: float | None = None) -> Path:
    for font in cfg.print_fonts:
        if not Path(font).is_file():
            raise SystemExit(f"error: print_fonts: {font} not found (Debian: apt-get install fonts-liberation "
                             "fonts-freefont-ttf); allowed: paths of TrueType files")
    (out := Path(cfg.out)).mkdir(parents=True, exist_ok=True)
    ckpt = torch.load(cfg.teacher, map_location="cpu", weights_only=False)
    teacher = frozen(ckpt)
    anchor = (frozen(torch.load(cfg.colour_anchor, map_location="cpu", weights_only=False))
              if cfg.colour_anchor_weight else None)
    init = torch.load(cfg.init, map_location="cpu", weights_only=False) if cfg.init else None
    student, net_cfg = grown_student(frozen(init) if init else teacher, cfg.refine, cfg.refine_sees_noise, cfg.channels,
                                    cfg.refine_sees_gained)
    ema = copy.deepcopy(student).eval().requires_grad_(False)
    grown = [p for n, p in student.named_parameters() if n.startswith("net.refine.")]
    trained = [p for n, p in student.named_parameters() if not n.startswith("net.refine.")]
    groups = [{"params": trained}] + ([{"params": grown, "lr": cfg.lr * cfg.refine_lr_scale}] if grown else [])
    opt = torch.optim.AdamW(groups, lr=cfg.lr)  # one group when nothing grew: older checkpoints resume
    step, history = 0, []
    # the weights the student started from; kept across resumes, since the teacher's file may have
    # trained on since (v5 and v7 start from a student that keeps training)
    origin = {"teacher_step": ckpt["step"], "teacher_history": ckpt.get("history", [])}
    if init:
        origin["init_step"] = init["step"]
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        student.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        origin = {k: state.get(k, v) for k, v in origin.items()}
    torch.manual_seed(cfg.seed + step)
    schedules = {k: torch.tensor(v, dtype=torch.float32) for k, v in cfg.schedules().items()}
    ks = list(schedules)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = NightPairs(load_split(Path(cfg.data), "train"), cfg.crop, seed=cfg.seed * 7919 + step,
                      print_fraction=cfg.print_fraction,
                      white_point_jitter=cfg.white_point_jitter, print_fonts=cfg.print_fonts,
                      print_mask=cfg.print_weight > 0, print_dihedral=cfg.print_dihedral,
                      exposure_range=cfg.exposure_range, with_exposure=cfg.old_model_max_exposure > 0,
                      frame_scales=source_scales(Path(cfg.data), "train", cfg.source_weights))
    if cfg.replay_pool:
        loader = ReplayBatches(iter(data), cfg.replay_pool, cfg.replay_fresh, cfg.batch, seed=cfg.seed + step)
    else:
        loader = iter(DataLoader(data, batch_size=cfg.batch))
    bf16 = use_bf16(cfg, torch.device("cpu"))
    # each resumed segment records its own config: a recipe changed mid-run stays reproducible
    segment = {"hardware": describe_hardware(torch.device("cpu")), "start_step": step,
               "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.__dict__.items()}}
    history.append(segment)
    bar = Progress(cfg.iterations, "distill", initial=step)
    t0 = time.monotonic()
    rng = np.random.default_rng(cfg.seed + step)

    def save(step: int) -> None:
        segment.update(end_step=step, seconds=round(time.monotonic() - t0, 1))
        save_checkpoint({"model": student.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                         "step": step, "net": net_cfg.to_dict(), "config": cfg.__dict__, "history": history,
                         "schedules": cfg.schedules(), **origin}, last)

    def one_step(step: int) -> float:
        batch = next(loader)
        night, clean = (t.contiguous(memory_format=torch.channels_last) for t in batch[:2])
        pixel_weight = 1 + cfg.print_weight * batch[2] if cfg.print_weight else None
        n = clean.shape[0]
        # 1 where the older networks (anchor, teacher, pair) may speak for an item
        old = (batch[-1] <= cfg.old_model_max_exposure).float() if cfg.old_model_max_exposure else 1.0
        x0 = clean * 2 - 1
        s0, s2 = torch.empty(n), torch.empty(n)
        for j in range(n):  # each item: a step count K and one of its steps
            sched = schedules[ks[rng.integers(len(ks))]]
            i = rng.integers(len(sched) - 1)
            s0[j], s2[j] = sched[i], sched[i + 1]
        x = x0 + torch.randn_like(x0) * s0.view(-1, 1, 1, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            denoised = student(x, s0, night).float()

        def seen(img: torch.Tensor) -> torch.Tensor:  # what the runtime shows of a denoised frame in [-1, 1]
            return anchor_to_night(night, (img + 1) / 2, cfg.tone_anchor) * 2 - 1 if cfg.tone_anchor else img

        w = loss_weight(s0).view(-1, 1, 1, 1)
        shown = seen(denoised)
        sq = (shown - x0) ** 2 if pixel_weight is None else pixel_weight * (shown - x0) ** 2
        loss = cfg.data_weight * (w * sq).mean()
        if cfg.edge_weight:
            loss = loss + cfg.edge_weight * gradient_l1(shown, x0, pixel_weight)
        if cfg.ssim_weight:
            loss = loss + cfg.ssim_weight * ssim_loss(shown, x0)
        if anchor is not None:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                anchored = anchor(x, s0, night).float()
            pool = cfg.colour_anchor_pool
            low_diff = F.avg_pool2d(denoised, pool) - F.avg_pool2d(anchored, pool)
            loss = loss + cfg.colour_anchor_weight * (old * w * low_diff**2).mean()  # weighted as the data term it overrules
        if cfg.teacher_weight:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                x_teacher = heun_two_substeps(teacher, x, s0, s2, night).float()
            r = (s2 / s0).view(-1, 1, 1, 1)
            target = (x_teacher - r * x) / (1 - r)
            loss = loss + cfg.teacher_weight * (old * w * (denoised - target) ** 2).mean()
        if cfg.pair_weight:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                pair = mirrored_pair(teacher, x0, x, s0, night).float()
            loss = loss + cfg.pair_weight * (old * w * (shown - seen(pair)) ** 2).mean()
        for group, base in zip(opt.param_groups, (cfg.lr, cfg.lr * cfg.refine_lr_scale)):
            group["lr"] = annealed(base, step, cfg.lr_anneal_start, cfg.lr_anneal_to, cfg.iterations)
        optimise(loss, student, ema, opt, cfg.ema_decay)
        return loss.item()

    run_steps(step, cfg.iterations, one_step, save, cfg.checkpoint_every, max_minutes, bar)
    return last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Distil the teacher into a 2-4 step student.")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--iterations", type=int, default=None)
    args = ap.parse_args(argv)
    cfg = DistillConfig.load(args.config)
    cfg.iterations = cfg.iterations if args.iterations is None else args.iterations
    print(distill(cfg, args.max_minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
