"""The conditional denoiser: a pixel-unshuffle U-Net behind EDM preconditioning.

Parametrisation: EDM (Karras et al., 2022). The network ``F`` never sees raw
noise levels; the wrapper :class:`Denoiser` computes

    D(x; sigma, y) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, y, c_noise(sigma))

with ``sigma_data = 0.5`` in the data space [-1, 1]. Why EDM: its
preconditioning keeps the network's inputs and targets at unit variance for
every sigma, so one network is well-conditioned both at the large sigmas that
a 2-4 step sampler starts from (where D is the regression estimate E[x|y],
which is what PSNR rewards) and at the small ones (where c_skip ~ 1 lets
fine detail pass straight through). The sampler only needs D, so the whole
preconditioning is exported inside the ONNX graph and the runtime's numpy
sampler never knows the parametrisation.

The U-Net is built for a CPU edge box: the input is pixel-unshuffled (space to
depth) so every convolution runs at 1/4 or less of the resolution, there is
no normalisation layer (GroupNorm statistics would differ from tile to tile and
make seams when the runtime tiles a frame, and they quantise poorly), and the
noise level enters through per-channel scale/shift (FiLM).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
import torch.nn.functional as F

SIGMA_DATA = 0.5


@dataclass
class NetConfig:
    unshuffle: int = 4
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    blocks: list[int] = field(default_factory=lambda: [2, 2, 2])
    emb_dim: int = 64
    refine: int = 0  # channels of a full-resolution refinement stage after the U-Net (0: none)
    # whether that stage also sees the noisy input x. A one-step student starts from pure noise at
    # sigma 40, where x holds nothing of the frame: its stage should see the coarse output and the
    # night frame only, or its small receptive field passes the sampler's noise straight to the output
    refine_sees_noise: bool = True
    # whether that stage sees the night frame gained to a normal exposure (as the stem's third input)
    # instead of the raw dark one. Why: at dusk the gained night frame holds 8-11 px glyph edges sharper
    # than the U-Net's output (session 22's print crops); a 5x5 full-resolution stage can only take them
    # over where it sees them at the output's brightness
    refine_sees_gained: bool = False
    global_branch: int = 0  # width of the whole-frame branch (exposure, cast, noise level; 0: none)
    exposure_norm: bool = False  # also feed the night frame gained to a fixed mean brightness

    def __post_init__(self) -> None:
        if self.refine_sees_gained and not self.exposure_norm:
            raise ValueError("refine_sees_gained needs exposure_norm: the gained view is the stem's third input")

    def to_dict(self) -> dict:
        return asdict(self)


class FourierNoiseEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.randn(dim // 2) * 4.0)

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        angles = c_noise[:, None] * self.freqs[None, :] * (2 * math.pi)
        return torch.cat([angles.cos(), angles.sin()], dim=1)


class ResBlock(nn.Module):
    """conv-act-FiLM-conv with a residual; no normalisation (tile-safe)."""

    def __init__(self, channels: int, emb_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        nn.init.zeros_(self.conv2.weight)  # blocks start as identity: stable early training

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv1(F.silu(x)))
        h = h * (1 + scale) + shift
        return x + self.conv2(h)


class FullResRefine(nn.Module):
    """A residual correction at full resolution, after the pixel shuffle.

    Why: the unshuffle-4 stem squeezes each 4x4 block (96 values of x and the
    night frame) into ``channels[0]`` features, too few to carry per-pixel
    noise and detail; measured as grain the many-step sampler leaves at small
    sigma and as low SSIM. Two noise-conditioned convolutions that see the
    coarse output, x and the night frame at full resolution can remove it.
    The last convolution starts at zero, so the stage starts as the identity
    and a trained coarse network can be grown into it (``init_from``)."""

    def __init__(self, channels: int, emb_dim: int, sees_noise: bool = True) -> None:
        super().__init__()
        self.sees_noise = sees_noise
        self.conv_in = nn.Conv2d(9 if sees_noise else 6, channels, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * channels)
        self.conv_mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_out = nn.Conv2d(channels, 3, 3, padding=1)
        for zero in (self.film.weight, self.film.bias, self.conv_out.weight, self.conv_out.bias):
            nn.init.zeros_(zero)

    def forward(self, coarse: torch.Tensor, x_in: torch.Tensor, cond: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.conv_in(torch.cat([coarse, x_in, cond] if self.sees_noise else [coarse, cond], dim=1)))
        h = F.silu(self.conv_mid(h * (1 + scale) + shift))
        return coarse + self.conv_out(h)


LUMA = (0.2126, 0.7152, 0.0722)
TARGET_MEAN = 0.18  # linear mean of a normal exposure (mid-grey)


def frame_statistics(cond01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1/4-resolution view of the night frame and the gain that brings its
    mean brightness (in linear light) to a normal exposure, per image.

    Why: a night frame's exposure is ambiguous and differs from camera to
    camera (auto-exposure, gain); one model spans very dark to dusk and other
    camera pipelines when it also sees the frame at a fixed brightness.
    Statistics come from the 1/4 view: full-resolution powers and pools cost
    as much as the whole U-Net on a CPU (measured 80-110 ms at 720p)."""
    small = F.avg_pool2d(cond01, 4)
    lin = small.clamp(0.0, 1.0) ** 2.2
    luma = sum(lin[:, i:i + 1] * w for i, w in enumerate(LUMA))
    gain = (TARGET_MEAN / (luma.mean(dim=(2, 3), keepdim=True) + 1e-3)).clamp(1.0, 64.0)
    return small, gain


def apply_gain(srgb01: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Gain a frame in linear light: with a 2.2 gamma, (g * v^2.2)^(1/2.2) = g^(1/2.2) * v,
    so this is one multiply and a clip, not two powers per pixel."""
    return (srgb01 * gain ** (1 / 2.2)).clamp(0.0, 1.0)


class FrameContext(nn.Module):
    """Whole-frame statistics as an embedding added to the noise embedding.

    Why: colour cast, exposure and noise level are properties of the whole
    frame, not of a 100-px neighbourhood; low-frequency chroma blotches can
    only be told from a cast with that context (the illumination estimator
    of Retinex-style networks plays this role). Cheap: two strided convs at
    1/8 resolution, a global mean, per-channel noise and brightness
    statistics, an MLP. Its output layer starts at zero (a neutral start)."""

    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(6, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.mlp = nn.Sequential(nn.Linear(width + 7, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, cond01: torch.Tensor, small: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        small = F.avg_pool2d(small, 2)
        view = torch.cat([small, apply_gain(small, gain)], dim=1) * 2 - 1
        feat = F.silu(self.conv2(F.silu(self.conv1(view)))).mean(dim=(2, 3))
        # noise (and texture) level per channel: neighbour differences on a sparse grid
        noise = (cond01[:, :, ::4, 1::4] - cond01[:, :, ::4, 0::4]).abs().mean(dim=(2, 3)) * 10
        stats = torch.cat([feat, noise, gain.log().flatten(1) / 4, small.mean(dim=(2, 3))], dim=1)
        return self.mlp(stats)


class UNet(nn.Module):
    """F(c_in x, y, c_noise): input 3 + 3 channels, output 3 channels."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f, ch = cfg.unshuffle, cfg.channels
        self.unshuffle = nn.PixelUnshuffle(f)
        self.shuffle = nn.PixelShuffle(f)
        self.embed = nn.Sequential(
            FourierNoiseEmbedding(cfg.emb_dim), nn.Linear(cfg.emb_dim, cfg.emb_dim), nn.SiLU(),
            nn.Linear(cfg.emb_dim, cfg.emb_dim), nn.SiLU(),
        )
        inputs = 9 if cfg.exposure_norm else 6  # x, night frame (and its gained view)
        self.stem = nn.Conv2d(inputs * f * f, ch[0], 3, padding=1)
        self.context = FrameContext(cfg.global_branch, cfg.emb_dim) if cfg.global_branch else None
        self.down_blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        for level, (c, n) in enumerate(zip(ch, cfg.blocks)):
            self.down_blocks.append(nn.ModuleList(ResBlock(c, cfg.emb_dim) for _ in range(n)))
            if level + 1 < len(ch):
                self.downs.append(nn.Conv2d(c, ch[level + 1], 3, stride=2, padding=1))
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for level in range(len(ch) - 2, -1, -1):
            self.ups.append(nn.Conv2d(ch[level + 1], ch[level], 1))
            self.up_blocks.append(nn.ModuleList([ResBlock(ch[level], cfg.emb_dim)]))
        self.head = nn.Conv2d(ch[0], 3 * f * f, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.refine = FullResRefine(cfg.refine, cfg.emb_dim, cfg.refine_sees_noise) if cfg.refine else None

    def forward(self, x_in: torch.Tensor, cond: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        emb = self.embed(c_noise)
        inputs = [x_in, cond]
        gained = cond  # the night frame at a normal exposure where exposure_norm is on
        if self.cfg.exposure_norm or self.context is not None:
            cond01 = (cond + 1) / 2
            small, gain = frame_statistics(cond01)
            if self.cfg.exposure_norm:
                gained = apply_gain(cond01, gain) * 2 - 1
                inputs.append(gained)
            if self.context is not None:
                emb = emb + self.context(cond01, small, gain)
        h = self.stem(self.unshuffle(torch.cat(inputs, dim=1)))
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb)
            if level < len(self.downs):
                skips.append(h)
                h = self.downs[level](h)
        for up, blocks in zip(self.ups, self.up_blocks):
            h = F.interpolate(up(h), scale_factor=2.0, mode="nearest") + skips.pop()
            for block in blocks:
                h = block(h, emb)
        out = self.shuffle(self.head(F.silu(h)))
        if self.refine is None:
            return out
        return self.refine(out, x_in, gained if self.cfg.refine_sees_gained else cond, emb)


class Denoiser(nn.Module):
    """EDM-preconditioned D(x, sigma, cond); ``cond`` is the night frame in [0, 1]
    RGB, ``x`` and the output live in the data space [-1, 1]. This module is
    what is exported: inputs ``x``, ``sigma`` (N,), ``cond``; output ``denoised``."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.net = UNet(cfg)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        c_skip = SIGMA_DATA**2 / (s**2 + SIGMA_DATA**2)
        c_out = s * SIGMA_DATA / (s**2 + SIGMA_DATA**2).sqrt()
        c_in = 1 / (s**2 + SIGMA_DATA**2).sqrt()
        c_noise = sigma.reshape(-1).log() / 4
        f = self.net(c_in * x, cond * 2 - 1, c_noise.to(x.dtype))
        return c_skip * x + c_out * f.to(x.dtype)

    @property
    def granularity(self) -> int:
        """Spatial sizes must be multiples of this (unshuffle x 2^(levels-1))."""
        cfg = self.net.cfg
        return cfg.unshuffle * 2 ** (len(cfg.channels) - 1)


def loss_weight(sigma: torch.Tensor) -> torch.Tensor:
    """EDM's lambda(sigma): makes the effective target of F unit-variance."""
    return (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2


def count_macs(model: Denoiser, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at HxW (convolutions and linears)."""
    macs = 0

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs += out.numel() * k
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        x = torch.zeros(1, 3, height, width)
        model(x, torch.ones(1), x)
    for h in handles:
        h.remove()
    return macs
