"""Every sampler through one shared test class, with formulas as dummy models
and fixed expected values (as diffusers tests its schedulers)."""
from __future__ import annotations

import numpy as np
import pytest

from edge_agent.runtime.sampler import SAMPLERS, karras_sigmas, seeded_noise


def gaussian_denoiser(x, sigma, cond):
    """Exact denoiser for unit-Gaussian data: D(x, s) = x / (1 + s^2)."""
    return x / (1 + sigma.reshape(-1, 1, 1, 1) ** 2)


def constant_denoiser(x, sigma, cond):
    """Data is always `cond`: every sampler must return it exactly."""
    return cond


# sigmas [2, 1, 0] from x_T = 2 (noise 1): hand-computed results
EXPECTED_GAUSSIAN = {"euler": 0.6, "heun": 0.65}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
class TestSampler:
    def test_fixed_values_on_formula_model(self, name):
        out = SAMPLERS[name](gaussian_denoiser, np.zeros((1, 3, 2, 2), np.float32), [2.0, 1.0, 0.0],
                             np.ones((1, 3, 2, 2), np.float32))
        np.testing.assert_allclose(out, EXPECTED_GAUSSIAN[name], rtol=1e-6)

    def test_constant_data_recovered_exactly(self, name):
        cond = np.linspace(-1, 1, 48, dtype=np.float32).reshape(1, 3, 4, 4)
        for steps in (2, 3, 4):
            out = SAMPLERS[name](constant_denoiser, cond, karras_sigmas(steps, 0.1, 40), seeded_noise(3, cond.shape))
            np.testing.assert_allclose(out, cond, atol=1e-5)

    def test_deterministic_for_a_seed(self, name):
        cond = np.zeros((1, 3, 8, 8), np.float32)
        run = lambda seed: SAMPLERS[name](gaussian_denoiser, cond, karras_sigmas(4, 0.1, 40), seeded_noise(seed, cond.shape))  # noqa: E731
        np.testing.assert_array_equal(run(5), run(5))
        assert not np.array_equal(run(5), run(6))

    def test_one_call_per_euler_step(self, name):
        calls = []
        SAMPLERS[name](lambda x, s, c: calls.append(float(s[0])) or x * 0, np.zeros((1, 3, 2, 2), np.float32),
                       karras_sigmas(3, 0.1, 40), np.ones((1, 3, 2, 2), np.float32))
        assert len(calls) == {"euler": 3, "heun": 5}[name]
        assert calls[0] == pytest.approx(40.0)


def test_karras_sigmas_fixed_values():
    np.testing.assert_allclose(karras_sigmas(3, 0.1, 40.0), [40.0, 3.726668, 0.1, 0.0], rtol=1e-4)


def test_seeded_noise_depends_only_on_seed_and_shape():
    np.testing.assert_array_equal(seeded_noise(1, (1, 3, 4, 4)), seeded_noise(1, (1, 3, 4, 4)))
    assert seeded_noise(1, (1, 3, 4, 4)).dtype == np.float32
