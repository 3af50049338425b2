"""Average the weights of students fine-tuned from one parent (a "model soup", Wortsman et al., 2022).

Why: every student trained on from the shipped weights lands 0.3-0.5 dB lower on the held-out table
than the weights it started from (v21-v26, sessions 18-19), each in its own direction of the same
basin; the mean of such weights often generalises better than any one of them, for the cost of one
network at run time. Only networks of one architecture can be averaged; the soup is written as a
checkpoint the pipeline bundles like any other, with its ingredients recorded in it.

    python -m export.soup checkpoints/student_v17/last.pt checkpoints/student_v25/last.pt \\
        --out checkpoints/student_soup/last.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .network import NetConfig
from .train import save_checkpoint


def _load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such checkpoint; allowed: files written by export.distill or export.train")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or not {"model", "ema", "net"} <= set(ckpt):
        raise SystemExit(f"error: {path}: not a training checkpoint; allowed: files written by export.distill "
                         "or export.train (with model, ema and net)")
    return ckpt


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of state dicts with the same keys and shapes (integer buffers from the first)."""
    total = sum(weights)
    out = {}
    for key, first in states[0].items():
        if not torch.is_floating_point(first):
            out[key] = first.clone()
            continue
        out[key] = sum(w / total * s[key].to(torch.float64) for s, w in zip(states, weights)).to(first.dtype)
    return out


def make_soup(paths: list[Path], weights: list[float] | None = None) -> dict:
    """A checkpoint whose model and EMA weights are the (weighted) means of the ingredients'."""
    if len(paths) < 2:
        raise SystemExit(f"error: {len(paths)} checkpoint(s); allowed: two or more to average")
    weights = list(weights) if weights else [1.0] * len(paths)
    if len(weights) != len(paths) or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit(f"error: weights {weights}: allowed: one non-negative weight per checkpoint, not all 0")
    ckpts = [_load(p) for p in paths]
    for path, ckpt in zip(paths[1:], ckpts[1:]):
        # compared as configs: a field added since an older checkpoint was written reads as its default
        if NetConfig(**ckpt["net"]) != NetConfig(**ckpts[0]["net"]):
            raise SystemExit(f"error: {path}: its network {ckpt['net']} differs from {paths[0]}'s "
                             f"{ckpts[0]['net']}; allowed: checkpoints of one architecture")
    soup = {key: value for key, value in ckpts[0].items() if key not in ("optimizer", "model", "ema")}
    soup["model"] = average_states([c["model"] for c in ckpts], weights)
    soup["ema"] = average_states([c["ema"] for c in ckpts], weights)
    soup["soup"] = [{"path": str(p), "step": int(c.get("step", 0)), "weight": w}
                    for p, c, w in zip(paths, ckpts, weights)]
    return soup


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--weights", type=float, nargs="*", default=None, help="one per checkpoint (default: equal)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    soup = make_soup(args.checkpoints, args.weights)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(soup, args.out)  # the trainers' writer: a reader never sees half a checkpoint
    print(f"soup of {len(args.checkpoints)} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
