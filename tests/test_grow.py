"""Growing a trained network: wider U-Net levels that start as the same function, then distil on."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from export.distill import DistillConfig, distill  # noqa: E402
from export.grow import grown_student, widen  # noqa: E402
from export.network import Denoiser, NetConfig  # noqa: E402
from export.train import TrainConfig, train  # noqa: E402

from test_training import TINY_NET, dataset  # noqa: E402,F401 - the module's fixture, shared


def _trained_like(cfg: NetConfig) -> Denoiser:
    """Every weight non-zero (a fresh network's zero-initialised layers would hide a wrong copy)."""
    torch.manual_seed(1)
    net = Denoiser(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def test_widened_network_starts_as_the_same_function_and_its_new_channels_learn():
    start = _trained_like(NetConfig(**{**TINY_NET, "global_branch": 8, "exposure_norm": True}))
    wide, cfg = widen(start, [12, 20])
    assert cfg.channels == [12, 20] and start.net.cfg.channels == [8, 16]
    x, cond, sigma = torch.randn(2, 3, 32, 48) * 40, torch.rand(2, 3, 32, 48), torch.tensor([40.0, 3.0])
    with torch.no_grad():
        torch.testing.assert_close(wide(x, sigma, cond), start(x, sigma, cond), atol=1e-5, rtol=1e-5)
    wide.train()
    (wide(x, sigma, cond) - cond * 2 + 1).pow(2).mean().backward()
    stem = wide.net.stem.weight
    assert stem[8:].abs().sum() == 0 and stem.grad[8:].abs().sum() > 0  # zero at the start, yet learning
    film = wide.net.down_blocks[0][0].film.weight  # (scale, shift) rows: the old ones kept in both halves
    torch.testing.assert_close(film[:8], start.net.down_blocks[0][0].film.weight[:8])
    torch.testing.assert_close(film[12:20], start.net.down_blocks[0][0].film.weight[8:16])


def test_widening_refuses_a_narrower_or_shallower_network():
    start = _trained_like(NetConfig(**TINY_NET))
    with pytest.raises(SystemExit, match="at least as wide"):
        widen(start, [4, 16])
    with pytest.raises(SystemExit, match="2 levels"):
        grown_student(start, 0, channels=[8, 16, 32])


def test_distillation_grows_the_starting_weights_wider_and_resumes(dataset, tmp_path):  # noqa: F811
    teacher = train(TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2,
                                crop=64, lr_warmup=1, threads=1), quiet=True)
    dcfg = DistillConfig(data=str(dataset), teacher=str(teacher), out=str(tmp_path / "s"), steps=(1,), iterations=2,
                         batch=2, crop=64, teacher_weight=0.0, pair_weight=1.0, channels=(12, 16), threads=1)
    state = torch.load(distill(dcfg), weights_only=False)
    assert state["net"]["channels"] == [12, 16] and state["ema"]["net.stem.weight"].shape[0] == 12
    dcfg.iterations = 3
    assert torch.load(distill(dcfg), weights_only=False)["step"] == 3  # resumes into the wide network
