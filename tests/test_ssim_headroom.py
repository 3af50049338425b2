"""The SSIM headroom diagnostic's oracle repairs, on synthetic frames with known answers."""
import cv2
import numpy as np

from benchmarks.ssim_headroom import REPAIRS, affine_tone, band_ratio, clean_above, score


def _frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (96, 128, 3)), (0, 0), 3)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255)


def test_affine_tone_undoes_a_global_gain_and_offset_per_channel():
    clean = _frame()
    out = clean * np.array([0.5, 0.8, 1.2]) + np.array([20.0, -5.0, 3.0])
    assert np.allclose(affine_tone(out, clean), clean, atol=1e-6)


def test_clean_above_repairs_a_coarse_error_and_keeps_fine_noise():
    clean = _frame(0)
    assert np.allclose(clean_above(2.0)(clean + 30.0, clean), clean)  # a uniform error lives above every scale
    noise = np.random.default_rng(5).normal(0, 10, clean.shape)
    residual = clean_above(8.0)(clean + noise, clean) - clean
    assert 0.9 < residual.std() / noise.std() < 1.0  # white noise is almost all finer than 8 px: it stays


def test_a_perfect_output_scores_one_under_every_oracle_and_band_ratio_one():
    clean = np.round(_frame())
    scores = score(clean.astype(np.uint8), clean.astype(np.uint8))
    assert set(scores) == set(REPAIRS)
    for name in ("as shipped", "oracle tone (affine per channel)", "oracle above 8 px", "oracle above 2 px"):
        assert scores[name][0] > 0.9999, name
    assert band_ratio(clean, clean) == 1.0


def test_a_soft_output_has_less_band_energy():
    clean = np.round(_frame())
    assert band_ratio(cv2.GaussianBlur(clean, (0, 0), 2.0), clean) < 0.6


def test_blotches_cost_ssim_that_the_coarse_oracles_give_back():
    clean = np.round(_frame())
    blotches = cv2.GaussianBlur(np.random.default_rng(3).normal(0, 400, clean.shape), (0, 0), 6)
    out = np.clip(np.round(clean + blotches), 0, 255).astype(np.uint8)
    scores = score(out, clean.astype(np.uint8))
    assert scores["oracle above 2 px"][0] > scores["oracle above 8 px"][0] > scores["as shipped"][0] + 0.01
