"""`edge-agent enhance SRC -o DST`: an image, a folder of images or a video."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..media import AtomicVideoWriter, VideoReader, folder_images, kind_of, read_image, write_image
from ..progress import Progress, track
from ..runtime.enhancer import Enhancer, StreamEnhancer
from ..runtime.forensic import CustodyRecord, enhance_with_uncertainty
from .options import add_runtime_options, open_model


def register(sub: argparse._SubParsersAction) -> None:
    """Add `enhance` to the command tree."""
    p = sub.add_parser("enhance", help="enhance an image, a folder of images or a video",
                       description="Enhance night footage. SRC: an image, a folder of images (DST: a folder, "
                                   "same names and sizes) or a video (DST: a video, same frames, size and fps).")
    p.add_argument("src", type=Path, metavar="SRC")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DST")
    p.add_argument("--uncertainty", type=Path, default=None, metavar="UDST",
                   help="forensic mode: also write per-pixel uncertainty maps (same kind as DST) and a "
                        "chain-of-custody record UDST.json")
    p.add_argument("--no-temporal", action="store_true",
                   help="videos: turn off the motion-adaptive temporal filter (each output frame then depends "
                        "only on its own input frame, as in forensic mode)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_options(p)
    p.set_defaults(run=run)


class Job:
    """One enhance run: the enhancer plus, in forensic mode, the custody record.

    Forensic mode never filters over time: each output frame must depend only
    on its own input frame."""

    def __init__(self, enhancer: Enhancer, uncertainty: Path | None, temporal: bool) -> None:
        self.enhancer = enhancer
        self.uncertainty = uncertainty
        self.record = CustodyRecord(enhancer) if uncertainty else None
        self.temporal = temporal and uncertainty is None

    def frame(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One independent frame: enhanced, and its uncertainty map in forensic mode."""
        if self.record is None:
            return self.enhancer.enhance(rgb), None
        return enhance_with_uncertainty(self.enhancer, rgb)

    def video_frames(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]:
        """Per-frame function for one video: the stream (with its temporal filter) or, forensic, ``frame``."""
        if not self.temporal:
            return self.frame
        stream = StreamEnhancer(self.enhancer)
        return lambda rgb: (stream(rgb), None)

    def finish(self) -> None:
        """Write the chain-of-custody record once every output exists."""
        if self.record is not None:
            self.record.write(self.uncertainty.with_name(self.uncertainty.name + ".json"))


def run(args: argparse.Namespace) -> int:
    """Enhance SRC by its kind (image, folder, video) into DST."""
    kind = kind_of(args.src)
    bundle, settings = open_model(args)
    job = Job(Enhancer(bundle, settings), args.uncertainty, temporal=not args.no_temporal)
    handler = {"image": _image, "folder": _folder, "video": _video}[kind]
    rc = handler(job, args.src, args.output, not args.quiet)
    job.finish()
    return rc


def _image(job: Job, src: Path, dst: Path, progress: bool) -> int:
    if dst.is_dir():
        raise UserError(f"output {dst} is a folder; for an image input give an image path")
    out, unc = job.frame(read_image(src))
    write_image(dst, out)
    if unc is not None:
        write_image(job.uncertainty, unc)
        job.record.add(src, dst, job.uncertainty)
    return 0


def _folder(job: Job, src: Path, dst: Path, progress: bool) -> int:
    images = folder_images(src)
    for folder in filter(None, (dst, job.uncertainty)):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"output {folder} exists and is not a folder; for a folder input give a folder")
        if folder.resolve() == src.resolve():
            raise UserError(f"output folder {folder} is the input folder; choose another so no original is overwritten")
        folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for path in track(images, len(images), "enhance", enabled=progress):
        try:
            out, unc = job.frame(read_image(path))
            write_image(dst / path.name, out)
            if unc is not None:
                write_image(job.uncertainty / path.name, unc)
                job.record.add(path, dst / path.name, job.uncertainty / path.name)
        except UserError as exc:  # one bad file must not stop the others
            failures.append(str(exc))
    for message in failures:
        sys.stderr.write(f"error: {message}\n")
    return 1 if failures else 0


def _video(job: Job, src: Path, dst: Path, progress: bool) -> int:
    reader = VideoReader(src)
    bar = Progress(reader.info.frames or None, "enhance", enabled=progress)
    frames = 0
    with AtomicVideoWriter(dst, reader.info) as writer:
        unc_writer = AtomicVideoWriter(job.uncertainty, reader.info) if job.uncertainty else None
        enhance = job.video_frames()
        try:
            for rgb in reader:  # the stream's one seed and temporal filter: a static scene stays static
                out, unc = enhance(rgb)
                writer.write(out)
                if unc_writer is not None:
                    unc_writer.write(unc)
                frames += 1
                bar.update()
        except BaseException:
            if unc_writer is not None:
                unc_writer.abort()
            raise
        if unc_writer is not None:
            unc_writer.commit()
    bar.close()
    if job.record is not None:
        job.record.add(src, dst, job.uncertainty, frames=frames)
    return 0
