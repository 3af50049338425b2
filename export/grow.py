"""Grow a trained network into a larger one that starts as the same function.

Two ways, both exact at the start, so a student keeps what it learnt and training only has to fill
what was added:

* ``refine``: a full-resolution refinement stage after the U-Net (its last convolution starts at zero).
* ``channels``: wider U-Net levels. Why: the first level (half resolution) is 20 channels wide and
  carries each 2x2 block of the noisy input, the night frame and its gained view in them; it holds
  most of the compute, and print and per-pixel noise are decided there. Rule (Net2Net-like, no
  normalisation layers to fix up): every added output channel of a layer starts with zero weights and
  bias, so it is zero everywhere (silu(0) = 0, and FiLM's added scale and shift rows are zero too);
  the weights *reading* added channels start small and random, so they change nothing while those
  channels are zero, yet pass gradients into the zero rows and let the new channels wake up.
"""
from __future__ import annotations

import copy

import torch

from .network import Denoiser, NetConfig
from .train import load_into_grown

NEW_COLUMN_SCALE = 0.1  # of the layer's default init: added inputs wake up gently once their channels move


def _film_chunks(name: str) -> int:
    """FiLM layers of the U-Net emit (scale, shift) per channel: their rows widen per half."""
    return 2 if ".film." in name and not name.startswith("net.refine.") else 1


def _widen_tensor(old: torch.Tensor, fresh: torch.Tensor, chunks: int) -> torch.Tensor:
    if old.shape == fresh.shape:
        return old.clone()
    new = fresh * NEW_COLUMN_SCALE
    out_old, out_new = old.shape[0] // chunks, fresh.shape[0] // chunks
    for c in range(chunks):
        rows_new = slice(c * out_new, (c + 1) * out_new)
        new[rows_new][out_old:] = 0  # added output channels start at zero (bias too)
        target = new[rows_new][:out_old]
        source = old[c * out_old:(c + 1) * out_old]
        if old.dim() == 1:
            target.copy_(source)
        else:
            target[:, :old.shape[1]] = source  # added input columns keep their small random values
    return new


def widen(start: Denoiser, channels: list[int], seed: int = 0) -> tuple[Denoiser, NetConfig]:
    """A copy of ``start`` with U-Net levels of ``channels`` (each at least as wide as before)."""
    cfg = start.net.cfg
    if len(channels) != len(cfg.channels) or any(n < o for n, o in zip(channels, cfg.channels)):
        raise SystemExit(f"error: channels {list(channels)}: the starting network has {cfg.channels}; allowed: "
                         f"{len(cfg.channels)} levels, each at least as wide as the start's")
    net_cfg = NetConfig(**{**cfg.to_dict(), "channels": list(channels)})
    with torch.random.fork_rng():  # the added columns' draw leaves the caller's random stream as it was
        torch.manual_seed(seed)
        wide = Denoiser(net_cfg)
    old = start.state_dict()
    state = {k: _widen_tensor(old[k], v, _film_chunks(k)) for k, v in wide.state_dict().items()}
    wide.load_state_dict(state)
    return wide.to(memory_format=torch.channels_last), net_cfg


def grown_student(start: Denoiser, refine: int, sees_noise: bool = True,
                  channels: list[int] | tuple[int, ...] = (), sees_gained: bool = False) -> tuple[Denoiser, NetConfig]:
    """A trainable copy of ``start``, widened to ``channels`` (empty: as it is) and with a full-resolution
    refinement stage of width ``refine`` added (identity at the start) when it has none."""
    cfg = start.net.cfg
    if channels and list(channels) != cfg.channels:
        start, cfg = widen(start, list(channels))
    if not refine or refine == cfg.refine:
        return copy.deepcopy(start).train().requires_grad_(True), cfg
    if cfg.refine:
        raise SystemExit(f"error: refine {refine}: the starting network already has a refinement stage of width "
                         f"{cfg.refine}; allowed: 0 or {cfg.refine}")
    if sees_gained and not cfg.exposure_norm:
        raise SystemExit("error: refine_sees_gained: the starting network has no exposure_norm, so no gained view "
                         "of the night frame; allowed: false for this network")
    net_cfg = NetConfig(**{**cfg.to_dict(), "refine": refine, "refine_sees_noise": sees_noise,
                           "refine_sees_gained": sees_gained})
    student = Denoiser(net_cfg).to(memory_format=torch.channels_last)
    load_into_grown(student, start.state_dict())
    return student.train(), net_cfg
