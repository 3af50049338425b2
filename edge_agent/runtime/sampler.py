"""The one sampler, shared by every backend and by the training toolchain.

A denoiser is any callable ``denoise(x, sigma, cond) -> denoised`` on numpy
arrays (x and the result in the data space [-1, 1], NCHW; sigma of shape
(N,); cond the night frame in [0, 1]). The network's preconditioning lives
inside that callable (inside the ONNX graph), so these functions only see
noise levels, as in k-diffusion.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

Denoise = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> np.ndarray:
    """``n`` noise levels from sigma_max down to sigma_min (Karras et al. 2022),
    followed by a final 0."""
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return np.append(sigmas, 0.0).astype(np.float64)


def _levels(sigma: float, batch: int) -> np.ndarray:
    return np.full((batch,), sigma, dtype=np.float32)


def sample_euler(denoise: Denoise, cond: np.ndarray, sigmas: Sequence[float], noise: np.ndarray) -> np.ndarray:
    """Deterministic Euler steps of the probability-flow ODE
    dx/dsigma = (x - D(x, sigma)) / sigma; one network call per step.
    ``noise`` is unit Gaussian noise shaped like the output (the caller owns
    the seed, so overlapping tiles and successive frames can share it)."""
    x = noise.astype(np.float32) * np.float32(sigmas[0])
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        denoised = denoise(x, _levels(sigma, x.shape[0]), cond)
        x = denoised + (x - denoised) * np.float32(sigma_next / sigma)
    return x


def sample_heun(denoise: Denoise, cond: np.ndarray, sigmas: Sequence[float], noise: np.ndarray) -> np.ndarray:
    """Heun's second-order method (EDM's deterministic sampler): two network
    calls per step except the last, which is an Euler step to sigma = 0."""
    x = noise.astype(np.float32) * np.float32(sigmas[0])
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        denoised = denoise(x, _levels(sigma, x.shape[0]), cond)
        d = (x - denoised) / np.float32(sigma)
        x_next = x + d * np.float32(sigma_next - sigma)
        if sigma_next > 0:
            d_next = (x_next - denoise(x_next, _levels(sigma_next, x.shape[0]), cond)) / np.float32(sigma_next)
            x_next = x + (d + d_next) * np.float32((sigma_next - sigma) / 2)
        x = x_next
    return x


SAMPLERS: dict[str, Callable[..., np.ndarray]] = {"euler": sample_euler, "heun": sample_heun}


@functools.lru_cache(maxsize=2)
def seeded_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise that depends only on (seed, shape): the seed policy
    of every bundle. A stream keeps one seed, so a static scene gets the same
    noise every frame and the output does not flicker. Cached (read-only):
    drawing it costs tens of ms per 720p frame, and it is the same every frame."""
    noise = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    noise.flags.writeable = False
    return noise
