"""benchmarks/sampler_variants.py: each variant kind computes what it names,
on a formula model (the output depends on the noise, so seeds differ)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.sampler_variants import variant
from edge_agent.runtime.sampler import seeded_noise

SIGMAS = {1: [40.0, 0.0], 2: [40.0, 0.03, 0.0]}


class Formula(torch.nn.Module):
    """D(x, sigma, cond) = (2 cond - 1) + x / (4 sigma): a denoiser that lets a quarter of the noise through,
    so one step from sigma 40 gives cond + noise / 8 in [0, 1] units."""

    def forward(self, x, sigma, cond):
        return (2 * cond - 1) + x / (4 * sigma.view(-1, 1, 1, 1))


NIGHT = (np.random.default_rng(1).random((40, 56, 3)) * 200 + 20).astype(np.uint8)


@pytest.mark.parametrize("kind", ["seeded", "zero", "avg2", "flip2", "rot2"])
def test_each_kind(kind):
    out = variant(Formula(), SIGMAS, f"1:{kind}")(NIGHT, 0).astype(np.float64)
    clean = NIGHT.astype(np.float64)
    one = seeded_noise(0, (1, 3, 64, 64))[0].transpose(1, 2, 0)[:40, :56] * 255 / 8
    two = seeded_noise(1, (1, 3, 64, 64))[0].transpose(1, 2, 0)[:40, :56] * 255 / 8
    if kind == "zero":
        np.testing.assert_allclose(out, clean, atol=0.51)
    elif kind == "seeded":
        np.testing.assert_allclose(out, np.clip(clean + one, 0, 255), atol=0.51)
    elif kind == "avg2":
        np.testing.assert_allclose(out, np.clip(clean + (one + two) / 2, 0, 255), atol=1.01)
    elif kind == "flip2":  # the second sample ran on the mirrored padded frame: its noise lies mirrored
        mirrored = seeded_noise(1, (1, 3, 64, 64))[0].transpose(1, 2, 0)[:40, ::-1][:, :56] * 255 / 8
        inside = (clean + one > 8) & (clean + one < 247) & (clean + mirrored > 8) & (clean + mirrored < 247)
        np.testing.assert_allclose(out[inside], (clean + (one + mirrored) / 2)[inside], atol=1.01)
    else:  # rot2: the second sample ran on the padded frame turned by 180 degrees, its noise turned back
        mirrored = seeded_noise(1, (1, 3, 64, 64))[0].transpose(1, 2, 0)[::-1, ::-1][:40, :56] * 255 / 8
        inside = (clean + one > 8) & (clean + one < 247) & (clean + mirrored > 8) & (clean + mirrored < 247)
        np.testing.assert_allclose(out[inside], (clean + (one + mirrored) / 2)[inside], atol=1.01)


def test_unknown_kind_is_refused():
    with pytest.raises(SystemExit, match="kind must be"):
        variant(Formula(), SIGMAS, "1:avg")
