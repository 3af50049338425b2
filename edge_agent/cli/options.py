"""Options shared by the commands that run the model, parsed in one place."""
from __future__ import annotations

import argparse
import contextlib
import tarfile
import tempfile
from pathlib import Path

from ..errors import BundleError, UserError
from ..paths import default_cache_dir, default_model_path
from ..runtime.backends import BACKEND_NAMES
from ..runtime.bundle import PRECISIONS, Bundle, load_bundle
from ..runtime.enhancer import EnhanceSettings
from .devices import check_device

# Temporary folders of this run (an unpacked --model x.tar); `main` closes it
# however the command ends, signals included.
TEMP = contextlib.ExitStack()


def cleanup() -> None:
    """Remove every temporary folder this run made."""
    TEMP.close()


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; allowed: 0 (all cores) or a positive count")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("0 is not allowed; allowed: 1 or more")
    return value


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (H, W)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WxH (e.g. 1280x720)") from None
    if w < 1 or h < 1 or w * h > 8192 * 8192:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be 1..8192")
    return h, w


def samples_per_frame(average: int, mirror: bool) -> str:
    """'1 sample per frame', or 'mean of N samples' and whether every second one is mirrored."""
    if average <= 1:
        return "1 sample per frame"
    return f"mean of {average} samples" + (" (every second one mirrored)" if mirror else "")


def tone_anchored(tone_anchor: float) -> str:
    """', large-scale tone anchored to the night frame (N px)' when the bundle says so, else ''."""
    return f", large-scale tone anchored to the night frame ({tone_anchor:g} px)" if tone_anchor else ""


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    """The model and runtime flags every model-running command shares."""
    p.add_argument("--model", type=Path, default=None, help="model bundle folder or .tar (default: the installed model)")
    p.add_argument("--backend", choices=BACKEND_NAMES, default="auto", help="inference runtime; auto prefers OpenVINO")
    p.add_argument("--device", default=None, help="runtime device: OpenVINO CPU/GPU/NPU/AUTO, ONNX Runtime CPU/CUDA/...")
    p.add_argument("--precision", choices=PRECISIONS, default="int8", help="network precision (default int8)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps; one of the model's supported counts")
    p.add_argument("--seed", type=int, default=None, help="noise seed (default: the model's; fixed per stream)")
    p.add_argument("--average", type=positive_int, default=None,
                   help="samples averaged per output frame, each a full sampler run (default: the model's)")
    p.add_argument("--tile", type=parse_size, default=None, metavar="WxH",
                   help="force this tile shape (a multiple of the model's granularity)")
    p.add_argument("--batch", type=positive_int, default=1, help="tiles per network call")
    p.add_argument("--threads", type=non_negative_int, default=0, help="inference threads (0 = all cores)")
    p.add_argument("--cache-dir", type=Path, default=None, help="OpenVINO compiled-model cache")


def open_model(args: argparse.Namespace) -> tuple[Bundle, EnhanceSettings]:
    """The verified bundle and the runtime settings the flags ask for; a tile the model cannot take is refused
    here."""
    path = args.model or default_model_path()
    if args.model is None and not (path / "manifest.json").exists():
        raise UserError(f"no model installed at {path}; pass --model PATH to a bundle")
    bundle = load_model(path)
    if args.tile is not None and (args.tile[0] % bundle.io.granularity or args.tile[1] % bundle.io.granularity):
        raise UserError(f"tile {args.tile[1]}x{args.tile[0]}: width and height must be multiples of "
                        f"{bundle.io.granularity} for this model")
    check_device(args.backend, args.device)
    settings = EnhanceSettings(backend=args.backend, device=args.device, precision=args.precision,
                               steps=args.steps, seed=args.seed, average=args.average, tile=args.tile, batch=args.batch,
                               cache_dir=args.cache_dir or default_cache_dir(), threads=args.threads)
    return bundle, settings


def load_model(path: Path) -> Bundle:
    """A bundle folder or a ``.tar`` of one, verified; an archive is unpacked
    into a temporary folder removed when the command ends, and every error
    names ``path`` as the user gave it, never the temporary folder."""
    if not path.exists():
        raise BundleError(f"model bundle {path}: not found (expected a bundle folder or a .tar archive of one)")
    if path.is_dir():
        return load_bundle(path)
    if not tarfile.is_tarfile(path):
        raise BundleError(f"model bundle {path}: not a bundle folder nor a readable .tar archive "
                          "(corrupt or truncated archive?)")
    tmp = Path(TEMP.enter_context(tempfile.TemporaryDirectory(prefix="edge-bundle-")))
    try:
        with tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
        return load_bundle(tmp)
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"model bundle {path}: the archive cannot be unpacked ({exc})") from None
    except BundleError as exc:
        raise BundleError(str(exc).replace(str(tmp), str(path))) from None
