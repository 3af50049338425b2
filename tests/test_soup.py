"""Weight averaging of students from one parent (export/soup.py): the mean it claims, refusals named."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from export.network import Denoiser, NetConfig  # noqa: E402
from export.soup import make_soup  # noqa: E402

from test_training import TINY_NET  # noqa: E402

ROOT = Path(__file__).parents[1]


def _checkpoint(path, net: dict, seed: int, step: int):
    torch.manual_seed(seed)
    model, ema = Denoiser(NetConfig(**net)), Denoiser(NetConfig(**net))
    with torch.no_grad():
        for p in list(model.parameters()) + list(ema.parameters()):
            p.add_(torch.randn_like(p))
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "net": net, "step": step,
                "optimizer": {}, "config": {"seed": seed}}, path)
    return model.state_dict(), ema.state_dict()


def test_soup_is_the_weighted_mean_of_model_and_ema_and_records_its_ingredients(tmp_path):
    a_model, a_ema = _checkpoint(tmp_path / "a.pt", TINY_NET, 1, 100)
    b_model, b_ema = _checkpoint(tmp_path / "b.pt", TINY_NET, 2, 200)
    soup = make_soup([tmp_path / "a.pt", tmp_path / "b.pt"], [3.0, 1.0])
    key = "net.stem.weight"
    assert torch.allclose(soup["model"][key], 0.75 * a_model[key] + 0.25 * b_model[key], atol=1e-6)
    assert torch.allclose(soup["ema"][key], 0.75 * a_ema[key] + 0.25 * b_ema[key], atol=1e-6)
    assert "optimizer" not in soup and soup["net"] == TINY_NET
    assert [(i["step"], i["weight"]) for i in soup["soup"]] == [(100, 3.0), (200, 1.0)]
    loaded = Denoiser(NetConfig(**soup["net"]))
    loaded.load_state_dict(soup["ema"])  # the soup is a checkpoint the exporter loads like any other


@pytest.mark.parametrize("case, message", [
    ("one", "allowed: two or more"),
    ("missing", "no such checkpoint"),
    ("architecture", "differs from"),
    ("weights", "one non-negative weight per checkpoint"),
])
def test_soup_refusals_are_one_error_line(tmp_path, case, message):
    _checkpoint(tmp_path / "a.pt", TINY_NET, 1, 100)
    _checkpoint(tmp_path / "wide.pt", {**TINY_NET, "channels": [12, 20]}, 2, 100)
    _checkpoint(tmp_path / "b.pt", TINY_NET, 3, 100)
    args = {"one": ["a.pt"], "missing": ["a.pt", "nope.pt"], "architecture": ["a.pt", "wide.pt"],
            "weights": ["a.pt", "b.pt", "--weights", "1"]}[case]
    run = subprocess.run([sys.executable, "-m", "export.soup", *args, "--out", "soup.pt"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode != 0 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "soup.pt").exists()


def test_a_network_field_added_since_an_older_checkpoint_reads_as_its_default(tmp_path):
    """A checkpoint written before a NetConfig field existed (its "net" lacks the key) soups with a new
    one that records the field at its default: same architecture, not a refusal."""
    _checkpoint(tmp_path / "old.pt", TINY_NET, 1, 100)
    _checkpoint(tmp_path / "new.pt", {**TINY_NET, "refine_sees_gained": False}, 2, 100)
    soup = make_soup([tmp_path / "old.pt", tmp_path / "new.pt"])
    assert NetConfig(**soup["net"]) == NetConfig(**TINY_NET)
