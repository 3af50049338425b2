"""The README's figures, drawn from the result files the other scripts wrote
(each PNG names the machine its numbers came from).

    python -m benchmarks.plots            # benchmarks/results/*.json -> benchmarks/results/plots/*.png

A result file that is missing is skipped with a note (run its script first).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

SHIPPED_KEY = "bundle openvino int8"


def _machine(result: dict) -> str:
    m = result.get("machine", "")
    return f"{m['cpu']}, {m['cores']} cores" if isinstance(m, dict) else str(m)


def _save(fig: plt.Figure, out: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def latency(result: dict, out: Path) -> list[Path]:
    rows = [r for r in result["rows"] if "p50_ms" in r]
    mpx = lambda res: (lambda w, h: w * h / 1e6)(*map(int, res.split("x")))  # noqa: E731
    default_steps = min(r["steps"] for r in rows)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key in sorted({(r["backend"], r["precision"]) for r in rows}):
        pts = sorted((mpx(r["resolution"]), r["p50_ms"]) for r in rows
                     if (r["backend"], r["precision"]) == key and r["steps"] == default_steps)
        ax.plot(*zip(*pts), marker="o", label=f"{key[0]} {key[1]}, {default_steps} steps")
    for peer in sorted(next(iter(result["peers_ms"].values()))):
        pts = sorted((mpx(res), ms[peer]) for res, ms in result["peers_ms"].items())
        ax.plot(*zip(*pts), marker="s", linestyle="--", color="grey" if "gamma" in peer else "black",
                label=f"peer: {peer}")
    ax.set(xlabel="megapixels per frame", ylabel="p50 ms per frame", yscale="log",
           title=f"Latency, {result['model']}\n{_machine(result)}")
    ax.legend(fontsize=7)
    paths = [_save(fig, out / "latency_vs_resolution.png")]
    fig, ax = plt.subplots(figsize=(6, 4))
    resolutions = [r["resolution"] for r in rows]
    big = "1280x720" if "1280x720" in resolutions else max(resolutions, key=mpx)
    for key in sorted({(r["backend"], r["precision"]) for r in rows}):
        pts = sorted((r["steps"], r["p50_ms"]) for r in rows if (r["backend"], r["precision"]) == key
                     and r["resolution"] == big)
        ax.plot(*zip(*pts), marker="o", label=f"{key[0]} {key[1]}")
    ax.set(xlabel="sampler steps", ylabel=f"p50 ms per {big} frame", title=f"Steps vs latency\n{_machine(result)}")
    ax.legend(fontsize=7)
    return paths + [_save(fig, out / "latency_vs_steps.png")]


def quality(result: dict, out: Path) -> list[Path]:
    summary, meta = result["summary"], result["meta"]
    names = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(axes, ("psnr", "ssim")):
        values = [summary[n]["all"][metric] for n in names]
        colours = ["tab:orange" if n.startswith(SHIPPED_KEY) else "tab:grey" if n in ("identity", "clahe_nlm",
                   "gamma_wb_nlm") else "tab:blue" for n in names]
        ax.barh(names, values, color=colours)
        ax.invert_yaxis()
        ax.set(xlabel=metric.upper(), title=f"{metric.upper()} on {meta['pairs']} held-out pairs")
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"Quality (grey: classical peers, orange: shipped bundle). {meta['machine']}", fontsize=9)
    paths = [_save(fig, out / "quality.png")]
    teachers = [n for n in names if n.endswith(" heun-16 (full)")]  # the last teacher is the newest
    best_teacher = teachers[-1].removesuffix(" heun-16 (full)") if teachers else None
    chosen = [n for n in names if n in ("gamma_wb_nlm", "clahe_nlm", f"{best_teacher} heun-16 (full)",
                                        f"{best_teacher} euler-2") or n.startswith(SHIPPED_KEY)]
    conditions = list(summary[names[0]]["per_condition"])
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(chosen))
    for i, n in enumerate(chosen):
        ax.bar([c + i * width for c in range(len(conditions))],
               [summary[n]["per_condition"][c]["psnr"] for c in conditions], width, label=n)
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(conditions))], conditions, fontsize=8)
    ax.set(ylabel="PSNR (dB)", title=f"Per night condition. {meta['machine']}")
    ax.legend(fontsize=7)
    return paths + [_save(fig, out / "quality_per_condition.png")]


def temporal(result: dict, out: Path) -> list[Path]:
    rows = result["rows"]
    conditions = list(rows["per frame"])
    clean = rows["clean clip"]["all"]["flicker"]
    fig, (ax, cost) = plt.subplots(1, 2, figsize=(13, 4))
    for i, name in enumerate(("per frame", "temporal filter (shipped)")):
        ax.bar([c + i * 0.4 for c in range(len(conditions))], [rows[name][c]["flicker"] for c in conditions], 0.4,
               label=name)
        cost.bar([c + i * 0.4 for c in range(len(conditions))], [rows[name][c]["moving_psnr"] for c in conditions],
                 0.4, label=name)
    ax.axhline(2 * clean, color="black", linestyle="--", label=f"target: 2x clean clip ({2 * clean:.2f})")
    for a in (ax, cost):
        a.set_xticks([c + 0.2 for c in range(len(conditions))], conditions, fontsize=7)
        a.legend(fontsize=7)
    ax.set(ylabel="flicker (mean abs change, 0-255)", yscale="log", title="Flicker on static pixels (lower is better)")
    cost.set(ylabel="PSNR (dB)", title="PSNR on moving pixels (a smearing filter loses here)")
    fig.suptitle(f"Static-camera clip, {result['model']}. {result['machine']}", fontsize=9)
    return [_save(fig, out / "flicker.png")]


def projection(result: dict, out: Path) -> list[Path]:
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    names = [r["device"] for r in rows]
    lo, hi = [r["projected_ms_at_30pct"] for r in rows], [r["projected_ms_at_10pct"] for r in rows]
    ax.barh(names, [h - low for h, low in zip(hi, lo)], left=lo, color="tab:purple", alpha=0.6)
    cpu = result.get("measured_cpu")
    if cpu:
        ax.barh([cpu["device"]], [cpu["p50_ms"]], color="tab:orange")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set(xscale="log", xlabel=f"projected ms per {result['resolution']} frame, {result['steps']} steps "
                                "(orange: measured)",
           title="PROJECTION, not measured: each bar spans 30%..10% utilisation of the published INT8 peak\n"
                 "orange: measured on this machine")
    ax.title.set_fontsize(8)
    return [_save(fig, out / "projection.png")]


PLOTS: dict[str, Callable[[dict, Path], list[Path]]] = {
    "latency.json": latency, "quality.json": quality, "temporal.json": temporal, "projection.json": projection}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Draw the README's figures from benchmarks/results/*.json.")
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--out", type=Path, default=None, help="default: RESULTS/plots")
    args = ap.parse_args(argv)
    out = args.out or args.results / "plots"
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in PLOTS.items():
        path = args.results / name
        if not path.exists():
            print(f"skipped {name}: not found (run its benchmark first)")
            continue
        for png in draw(json.loads(path.read_text()), out):
            print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
