"""Options shared by the commands that run the model, parsed in one place."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..paths import default_cache_dir, default_model_path
from ..runtime.backends import BACKEND_NAMES
from ..runtime.bundle import PRECISIONS, Bundle, load_bundle
from ..runtime.enhancer import EnhanceSettings


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (H, W)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WxH (e.g. 1280x720)") from None
    if w < 1 or h < 1 or w * h > 8192 * 8192:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be 1..8192")
    return h, w


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    """The model and runtime flags every model-running command shares."""
    p.add_argument("--model", type=Path, default=None, help="model bundle folder or .tar (default: the installed model)")
    p.add_argument("--backend", choices=BACKEND_NAMES, default="auto", help="inference runtime; auto prefers OpenVINO")
    p.add_argument("--device", default=None, help="runtime device: OpenVINO CPU/GPU/NPU/AUTO, ONNX Runtime CPU/CUDA/...")
    p.add_argument("--precision", choices=PRECISIONS, default="int8", help="network precision (default int8)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps; one of the model's supported counts")
    p.add_argument("--seed", type=int, default=None, help="noise seed (default: the model's; fixed per stream)")
    p.add_argument("--tile", type=parse_size, default=None, metavar="WxH",
                   help="force this tile shape (a multiple of the model's granularity)")
    p.add_argument("--batch", type=int, default=1, help="tiles per network call")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    p.add_argument("--cache-dir", type=Path, default=None, help="OpenVINO compiled-model cache")


def open_model(args: argparse.Namespace) -> tuple[Bundle, EnhanceSettings]:
    """The verified bundle and the runtime settings the flags ask for; a tile the model cannot take is refused
    here."""
    path = args.model or default_model_path()
    if args.model is None and not (path / "manifest.json").exists():
        raise UserError(f"no model installed at {path}; pass --model PATH to a bundle")
    bundle = load_bundle(path)
    if args.tile is not None and (args.tile[0] % bundle.io.granularity or args.tile[1] % bundle.io.granularity):
        raise UserError(f"tile {args.tile[1]}x{args.tile[0]}: width and height must be multiples of "
                        f"{bundle.io.granularity} for this model")
    settings = EnhanceSettings(backend=args.backend, device=args.device, precision=args.precision,
                               steps=args.steps, seed=args.seed, tile=args.tile, batch=args.batch,
                               cache_dir=args.cache_dir or default_cache_dir(), threads=args.threads)
    return bundle, settings
