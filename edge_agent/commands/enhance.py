"""`edge-agent enhance SRC -o DST`: an image, a folder of images or a video."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..enhancer import Enhancer
from ..errors import UserError
from ..media import AtomicVideoWriter, VideoReader, folder_images, kind_of, read_image, write_image
from ..progress import Progress, track
from .options import add_runtime_options, open_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enhance", help="enhance an image, a folder of images or a video",
                       description="Enhance night footage. SRC: an image, a folder of images (DST: a folder, "
                                   "same names and sizes) or a video (DST: a video, same frames, size and fps).")
    p.add_argument("src", type=Path, metavar="SRC")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DST")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    kind = kind_of(args.src)
    bundle, settings = open_model(args)
    enhancer = Enhancer(bundle, settings)
    if kind == "image":
        if args.output.is_dir():
            raise UserError(f"output {args.output} is a folder; for an image input give an image path")
        write_image(args.output, enhancer.enhance(read_image(args.src)))
        return 0
    if kind == "folder":
        return _folder(enhancer, args.src, args.output, not args.quiet)
    return _video(enhancer, args.src, args.output, not args.quiet)


def _folder(enhancer: Enhancer, src: Path, dst: Path, progress: bool) -> int:
    images = folder_images(src)
    if dst.exists() and not dst.is_dir():
        raise UserError(f"output {dst} exists and is not a folder; for a folder input give a folder")
    if dst.resolve() == src.resolve():
        raise UserError(f"output folder {dst} is the input folder; choose another so no original is overwritten")
    dst.mkdir(parents=True, exist_ok=True)
    failures = []
    for path in track(images, len(images), "enhance", enabled=progress):
        try:
            write_image(dst / path.name, enhancer.enhance(read_image(path)))
        except UserError as exc:  # one bad file must not stop the others
            failures.append(str(exc))
    for message in failures:
        sys.stderr.write(f"error: {message}\n")
    return 1 if failures else 0


def _video(enhancer: Enhancer, src: Path, dst: Path, progress: bool) -> int:
    reader = VideoReader(src)
    bar = Progress(reader.info.frames or None, "enhance", enabled=progress)
    with AtomicVideoWriter(dst, reader.info) as writer:
        for rgb in reader:  # the stream's one seed: a static scene stays static
            writer.write(enhancer.enhance(rgb))
            bar.update()
    bar.close()
    return 0
