from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from export.camera_model import CONDITIONS, NightParams, degrade, noise_variance, sample_params, sensor_noise


@pytest.mark.parametrize("full_well,read_noise", [(300, 1.0), (1500, 3.0), (6000, 6.0)])
def test_noise_follows_the_poisson_gaussian_law_in_electrons(full_well, read_noise):
    """The physics, measured, independently of noise_variance(): a pixel at
    fraction s of full scale collects N = s*Q electrons (Q = full well, e-);
    photon shot noise is Poisson, so its variance is N e-^2; read noise adds
    r^2 e-^2. In electrons: mean = s*Q e-, variance = s*Q + r^2 e-^2 (a photon
    transfer curve of slope 1 in electrons, i.e. gain 1/Q per electron in
    readings of full scale)."""
    rng = np.random.default_rng(0)
    params = NightParams(full_well=full_well, read_noise=read_noise, row_noise=0.0)
    means, variances = [], []
    for level in (0.001, 0.01, 0.05, 0.2):
        electrons = sensor_noise(np.full((200, 200, 3), level), params, rng) * full_well  # reading -> e-
        expected_mean_e = level * full_well
        expected_var_e2 = expected_mean_e + read_noise ** 2
        n = electrons.size
        assert electrons.mean() == pytest.approx(expected_mean_e, abs=5 * np.sqrt(expected_var_e2 / n))
        # the sample variance of n Gaussian-ish draws has a relative standard error of sqrt(2/n) ~ 0.4 %
        assert electrons.var() == pytest.approx(expected_var_e2, rel=0.03)
        means.append(electrons.mean())
        variances.append(electrons.var())
    slope, intercept = np.polyfit(means, variances, 1)  # photon transfer curve
    assert slope == pytest.approx(1.0, abs=0.03)  # Poisson: one e-^2 of variance per electron
    assert intercept == pytest.approx(read_noise ** 2, abs=0.2 * read_noise ** 2 + 1.0)
    # the documented closed form agrees with what was measured
    assert noise_variance(0.05, params) * full_well ** 2 == pytest.approx(0.05 * full_well + read_noise ** 2)


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


def test_a_widened_exposure_range_reaches_dusk_and_bad_ranges_are_refused():
    rng = np.random.default_rng(1)
    exposures = np.array([sample_params(rng, (1 / 40, 0.6)).exposure for _ in range(2000)])
    assert exposures.min() >= 1 / 40 - 1e-9 and exposures.max() <= 0.6 + 1e-9
    # log-uniform: the share above the default top (1/4) is log(0.6 / 0.25) / log(0.6 * 40)
    assert abs(np.mean(exposures > 0.25) - np.log(2.4) / np.log(24)) < 0.03
    for bad in ((0.0, 0.25), (0.3, 0.2), (0.1, 1.5)):
        with pytest.raises(ValueError, match="exposure_range"):
            sample_params(rng, bad)


def test_bayer_mosaic_and_demosaic_keep_a_flat_colour():
    from export.camera_model import demosaic, mosaic

    flat = np.empty((16, 16, 3))
    flat[:] = (0.8, 0.4, 0.1)
    m = mosaic(flat)
    assert m.shape == (16, 16, 1)
    assert m[0, 0, 0] == 0.8 and m[0, 1, 0] == 0.4 and m[1, 0, 0] == 0.4 and m[1, 1, 0] == 0.1  # RGGB
    assert np.allclose(demosaic(m)[4:-4, 4:-4], (0.8, 0.4, 0.1), atol=1e-4)


def _neighbour_correlation(noise: np.ndarray) -> float:
    a, b = noise[:, :-1].ravel(), noise[:, 1:].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_demosaiced_noise_is_spatially_correlated_and_mixes_channels():
    """Per-pixel sensor noise is white; after demosaicing it spreads over
    neighbours (the blotchy look of real night CCTV). Measured on the
    noise itself (reading minus signal), independently of the variance law."""
    p = NightParams(full_well=500, read_noise=4.0, row_noise=0.0)
    signal = np.full((256, 256, 3), 0.05)
    white = sensor_noise(signal, p, np.random.default_rng(0)) - 0.05
    from export.camera_model import demosaic, mosaic

    bayer = demosaic(sensor_noise(mosaic(signal), p, np.random.default_rng(0))) - 0.05
    assert abs(_neighbour_correlation(white[..., 1])) < 0.02
    assert _neighbour_correlation(bayer[..., 0]) > 0.3  # red is interpolated from every other photosite
    r, b = bayer[8:-8, 8:-8, 0].ravel(), bayer[8:-8, 8:-8, 2].ravel()
    assert abs(np.corrcoef(r, b)[0, 1]) < 0.1  # and R and B come from different photosites


def test_isp_stages_do_what_cameras_do():
    rng = np.random.default_rng(5)
    srgb = np.clip(0.4 + rng.normal(0, 0.08, (128, 128, 3)), 0, 1)
    from export.camera_model import camera_processing
    import cv2

    def chroma_var(img):
        return cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2YCrCb)[..., 1:].var()

    def luma_hf(img):
        y = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2YCrCb)[..., 0]
        return float(np.abs(np.diff(y, axis=1)).mean())

    assert camera_processing(srgb, NightParams()) is srgb  # every stage off: untouched
    assert chroma_var(camera_processing(srgb, NightParams(isp_denoise=1.0))) < 0.2 * chroma_var(srgb)
    assert luma_hf(camera_processing(srgb, NightParams(sharpen=1.0))) > 1.3 * luma_hf(srgb)
    sub = camera_processing(srgb, NightParams(chroma_420=True))
    ycc_in = cv2.cvtColor(srgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    ycc_out = cv2.cvtColor(sub.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    assert np.abs(ycc_out[..., 0] - ycc_in[..., 0]).mean() < 0.01  # luma kept
    assert ycc_out[..., 1:].var() < 0.5 * ycc_in[..., 1:].var()  # chroma at half resolution


def test_every_condition_renders_and_the_isp_condition_uses_the_new_stages():
    clean = np.random.default_rng(3).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    for name, p in CONDITIONS.items():
        night, target = degrade(clean, p, np.random.default_rng(1))
        assert night.shape == clean.shape and night.dtype == np.uint8, name
    isp = CONDITIONS["cctv_isp"]
    assert isp.bayer and isp.chroma_420 and isp.isp_denoise > 0 and isp.sharpen > 0
