from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from export.camera_model import CONDITIONS, NightParams, degrade, noise_variance, sample_params, sensor_noise


@pytest.mark.parametrize("params", [NightParams(full_well=300, read_noise=1.0), NightParams(full_well=6000, read_noise=6.0)])
def test_noise_variance_follows_poisson_gaussian_law(params):
    rng = np.random.default_rng(0)
    params = replace(params, row_noise=0.0)
    for level in (0.001, 0.01, 0.05, 0.2):
        signal = np.full((200, 200, 3), level)
        reading = sensor_noise(signal, params, rng)
        assert reading.mean() == pytest.approx(level, rel=0.02, abs=2e-4)
        assert reading.var() == pytest.approx(noise_variance(level, params), rel=0.05)


def test_row_noise_is_shared_along_a_row():
    rng = np.random.default_rng(1)
    p = NightParams(full_well=1000, read_noise=5.0, row_noise=0.6)
    reading = sensor_noise(np.full((400, 300, 3), 0.05), p, rng)
    row_means = reading.mean(axis=(1, 2))
    expected_row_var = (p.row_noise * p.read_noise / p.full_well) ** 2
    assert row_means.var() == pytest.approx(expected_row_var + noise_variance(0.05, p) / 900, rel=0.25)


def test_exposure_darkens_in_linear_light():
    clean = np.full((64, 64, 3), 180, np.uint8)
    rng = np.random.default_rng(0)
    bright, _ = degrade(clean, NightParams(exposure=0.25, jpeg_quality=0, full_well=1e6), rng)
    dark, _ = degrade(clean, NightParams(exposure=1 / 40, jpeg_quality=0, full_well=1e6), rng)
    assert 20 < dark.mean() < bright.mean() < 180


def test_sodium_lamp_removes_blue_and_ir_is_grey():
    clean = np.full((32, 32, 3), 200, np.uint8)
    night, target = degrade(clean, replace(CONDITIONS["street_sodium"], white_balance=0.0, full_well=1e6), np.random.default_rng(0))
    assert night[..., 0].mean() > 2 * night[..., 2].mean()
    ir, ir_target = degrade(np.random.default_rng(2).integers(0, 255, (32, 32, 3), dtype=np.uint8),
                            CONDITIONS["ir_mono"], np.random.default_rng(0))
    assert np.array_equal(ir[..., 0], ir[..., 1]) or np.abs(ir[..., 0].astype(int) - ir[..., 2]).max() <= 3
    assert np.array_equal(ir_target[..., 0], ir_target[..., 2])


def test_degradation_is_deterministic_and_keeps_size():
    clean = np.random.default_rng(3).integers(0, 255, (75, 101, 3), dtype=np.uint8)
    for _ in range(5):
        p = sample_params(np.random.default_rng(7))
        a, _ = degrade(clean, p, np.random.default_rng(11))
        b, _ = degrade(clean, p, np.random.default_rng(11))
        assert np.array_equal(a, b) and a.shape == clean.shape and a.dtype == np.uint8


def test_sampled_parameters_cover_the_night_range():
    rng = np.random.default_rng(0)
    draws = [sample_params(rng) for _ in range(2000)]
    exposures = np.array([d.exposure for d in draws])
    assert exposures.min() < 1 / 35 and exposures.max() > 1 / 4.5 and exposures.min() >= 1 / 40 - 1e-9
    assert {d.lamp for d in draws} == {"neutral", "sodium", "warm_led", "cool_led"}
    assert any(d.ir_mono for d in draws) and any(d.motion_blur for d in draws) and any(d.downscale > 1 for d in draws)
    assert 15 <= min(d.jpeg_quality for d in draws if d.jpeg_quality) and max(d.jpeg_quality for d in draws) <= 60
