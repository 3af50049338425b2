"""The enhancers the native table scores: the classical peers (CBM3D on a fixed
subset), a bundle as the runtime runs it (OpenVINO, its own sampler seed and
temporal filter), or a torch checkpoint at N Euler steps; each as a callable
(night uint8 RGB, sampler seed) -> uint8 RGB."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from edge_agent.runtime.monochrome import keep_monochrome
from edge_agent.runtime.sampler import SAMPLERS, karras_sigmas, seeded_noise

from .native_frames import Plan
from .peers import bm3d_cbm3d, clahe_nlm, gamma_wb_nlm, identity

FEW_STEP_SIGMA_MIN, SIGMA_MAX = 0.03, 40.0  # the student recipe's Euler schedules (export/configs/student_cpu.yaml)

Enhance = Callable[[np.ndarray, int], np.ndarray]  # (night uint8 RGB, sampler seed) -> uint8 RGB


@dataclass
class Candidate:
    name: str
    kind: str  # "peer" or "model"
    enhance: Enhance
    seeds: list[int] = field(default_factory=lambda: [0])  # the first is the setting's own
    cached: bool = False  # peers: outputs cached on disk by input hash
    subset_only: bool = False  # BM3D: only the fixed subset
    stream: Callable[[], Callable[[np.ndarray], np.ndarray]] | None = None  # video with the temporal filter


def peer_candidates(plan: Plan) -> list[Candidate]:
    def wrap(fn):
        return lambda night, seed: fn(night)

    peers = [Candidate("identity (night input)", "peer", wrap(identity)),
             Candidate("CLAHE + NLM", "peer", wrap(clahe_nlm), cached=True),
             Candidate("gamma + grey-world + NLM", "peer", wrap(gamma_wb_nlm), cached=True)]
    if plan.bm3d:
        peers.append(Candidate("gamma + grey-world + CBM3D", "peer", wrap(bm3d_cbm3d), cached=True, subset_only=True))
    return peers


def extra_seeds(own: int, n: int) -> list[int]:
    return [own] + [own + 1000 * k for k in range(1, n)]


def bundle_candidate(path: Path, steps: int | None, plan: Plan, label: str | None = None,
                     precision: str = "int8") -> Candidate:
    bundle = load_bundle(path)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="openvino", precision=precision, steps=steps))
    name = label or f"{bundle.name} {bundle.version}"
    mean = f", mean of {enhancer.average} samples" if enhancer.average > 1 else ""
    mean += " (mirrored pair)" if enhancer.average > 1 and enhancer.mirror else ""
    return Candidate(f"{name} (OpenVINO {precision.upper()}, {enhancer.steps}-step{mean})", "model",
                     lambda night, seed: enhancer.enhance(night, seed), extra_seeds(enhancer.seed, plan.seeds),
                     stream=lambda: StreamEnhancer(enhancer))


def load_checkpoint(path: Path):
    """Any checkpoint of export/network.py's Denoiser, whatever NetConfig fields it
    has: the config stored with it builds the network; the EMA weights are used."""
    import torch

    from .network import Denoiser, NetConfig

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = Denoiser(NetConfig(**ckpt["net"]))
    model.load_state_dict(ckpt["ema"] if "ema" in ckpt else ckpt["model"])
    return model.eval(), ckpt


def torch_denoiser(model):
    """A torch Denoiser as the sampler's numpy callable ``denoise(x, sigma, cond)``."""
    import torch

    def denoise(x, sigma, cond):
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(sigma), torch.from_numpy(cond)).numpy()
    return denoise


def night_cond(night: np.ndarray) -> np.ndarray:
    """uint8 RGB night frame -> the network's ``cond``, reflect-padded to a multiple of 64 (any U-Net depth)."""
    h, w = night.shape[:2]
    padded = np.pad(night, ((0, -(-h // 64) * 64 - h), (0, -(-w // 64) * 64 - w), (0, 0)), mode="reflect")
    return np.ascontiguousarray((padded.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])


def model_output(night: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The sampler's padded output -> uint8 RGB of the night frame's size, as the runtime's Enhancer gives it."""
    h, w = night.shape[:2]
    res = keep_monochrome(night, np.clip((out[0, :, :h, :w].transpose(1, 2, 0) + 1) * 0.5, 0, 1))
    return np.round(res * 255).astype(np.uint8)


def checkpoint_candidates(spec: str, plan: Plan) -> list[Candidate]:
    """``PATH[:N,M]``: the checkpoint at N and M Euler steps (default 2): its own
    schedules when it has them (a student), else Karras from 40 to 0.03."""
    path_s, _, steps_s = spec.partition(":")
    path = Path(path_s)
    model, ckpt = load_checkpoint(path)
    schedules = {int(k): v for k, v in (ckpt.get("schedules") or {}).items()}
    label = f"{path.parent.name}/{path.name}" + (f" @{ckpt['step']}" if "step" in ckpt else "")

    denoise = torch_denoiser(model)
    out = []
    for n in [int(s) for s in (steps_s or "2").split(",")]:
        sigmas = schedules.get(n) or karras_sigmas(n, FEW_STEP_SIGMA_MIN, SIGMA_MAX).tolist()

        def enhance(night: np.ndarray, seed: int, sigmas=sigmas) -> np.ndarray:
            cond = night_cond(night)
            return model_output(night, SAMPLERS["euler"](denoise, cond, sigmas, seeded_noise(seed, cond.shape)))

        out.append(Candidate(f"{label} euler-{n} (torch)", "model", enhance, extra_seeds(0, plan.seeds)))
    return out
