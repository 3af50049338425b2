"""Before/after image grids on held-out frames: the night input, the classical
peers, the shipped model (OpenVINO INT8, its default steps) and, when a
checkpoint is given, the teacher; the clean reference last.

    python -m benchmarks.image_grid        # -> benchmarks/results/plots/grid_*.jpg

Rows are held-out real surveillance frames (vtest.avi, never trained on) and
held-out photographs, each under a named night condition of the camera model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display on a camera box or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edge_agent.runtime.bundle import load_bundle  # noqa: E402
from edge_agent.measure import cpu_name  # noqa: E402
from edge_agent.paths import default_model_path  # noqa: E402
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer  # noqa: E402
from export.camera_model import CONDITIONS, degrade  # noqa: E402
from export.dataset import fit_multiple, load_split  # noqa: E402
from export.metrics import psnr, ssim  # noqa: E402
from export.peers import PEERS  # noqa: E402

ROWS = [("vtest", "street_sodium"), ("vtest", "very_dark"), ("photo", "street_led"), ("photo", "low_bitrate")]


def pick_frames(data: Path, max_side: int) -> list[tuple[str, np.ndarray]]:
    """One held-out vtest frame (the middle one, by name) and one held-out photo (the first, by name)."""
    frames = load_split(data, "eval")
    vtest = sorted(n for n in frames if n.startswith("vtest")) or sorted(frames)
    photos = sorted(n for n in frames if not n.startswith("vtest")) or sorted(frames)
    chosen = {"vtest": vtest[len(vtest) // 2], "photo": photos[0]}
    return [(chosen[kind], fit_multiple(frames[chosen[kind]], max_side, 16)) for kind, _ in ROWS]


def columns(model: Path, teacher: Path | None) -> dict[str, object]:
    bundle = load_bundle(model)
    shipped = Enhancer(bundle, EnhanceSettings(backend="openvino", precision="int8"))
    cols: dict[str, object] = {"clahe_nlm": PEERS["clahe_nlm"], "gamma_wb_nlm": PEERS["gamma_wb_nlm"],
                               f"shipped ({shipped.steps}-step INT8)": shipped.enhance}
    if teacher is not None:
        from export.evaluate import teacher_settings
        from export.onnx_export import load_denoiser

        settings = teacher_settings(load_denoiser(teacher))
        cols["teacher euler-2"], cols["teacher heun-16 (full)"] = settings["euler-2"], settings["heun-16 (full)"]
    return cols


def render(data: Path, model: Path, teacher: Path | None, max_side: int, out: Path) -> Path:
    cols = columns(model, teacher)
    frames = pick_frames(data, max_side)
    names = ["night input", *cols, "clean reference"]
    fig, axes = plt.subplots(len(ROWS), len(names), figsize=(2.6 * len(names), 2.2 * len(ROWS)), squeeze=False)
    for r, ((kind, condition), (name, clean)) in enumerate(zip(ROWS, frames)):
        night = degrade(clean, CONDITIONS[condition], np.random.default_rng(r))[0]
        images = [night, *(fn(night) for fn in cols.values()), clean]
        for c, (title, img) in enumerate(zip(names, images)):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([]), ax.set_yticks([])
            label = title if r == 0 else ""
            if 0 < c < len(names) - 1:
                label += f"\n{psnr(img, clean):.1f} dB / {ssim(img, clean):.2f}"
            ax.set_title(label, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{name}\n{condition}", fontsize=8)
    fig.suptitle(f"Held-out frames, PSNR / SSIM against the clean reference. {cpu_name()}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, pil_kwargs={"quality": 88})
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Before/after image grid on held-out frames.")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--teacher", type=Path, default=None)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/plots/grid.jpg"))
    args = ap.parse_args(argv)
    if not (args.data / "index.json").exists():
        raise SystemExit(f"error: no dataset at {args.data} (index.json missing); build it with "
                         "python -m export.sources --out DIR")
    print(render(args.data, args.model or default_model_path(), args.teacher, args.max_side, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
