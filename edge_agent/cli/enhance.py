"""`edge-agent enhance SRC -o DST`: an image, a folder of images or a video."""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..media import (AtomicVideoWriter, TruncatedVideo, VideoReader, folder_images, kind_of, read_image,
                     write_image)
from ..progress import Progress, track
from ..runtime.enhancer import Enhancer, StreamEnhancer
from ..runtime.forensic import CustodyRecord, enhance_with_uncertainty
from .options import add_runtime_options, open_model, samples_per_frame, tone_anchored


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
    p.add_argument("--overwrite", action="store_true",
                   help="replace outputs that already exist (an input is never overwritten)")
    add_runtime_options(p)
    p.set_defaults(run=run)


class Job:
    """One enhance run: the enhancer plus, in forensic mode, the custody record.

    Forensic mode never filters over time: each output frame must depend only
    on its own input frame."""

    def __init__(self, enhancer: Enhancer, uncertainty: Path | None, temporal: bool) -> None:
        self.enhancer = enhancer
        self.frames = 0  # frames (or images) written, for the summary line
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
    """Enhance SRC by its kind (image, folder, video) into DST, then print one summary line."""
    kind = kind_of(args.src)
    check_outputs(args.src, [args.output, args.uncertainty], kind, args.overwrite)
    bundle, settings = open_model(args)
    started = time.monotonic()
    job = Job(Enhancer(bundle, settings), args.uncertainty, temporal=not args.no_temporal)
    handler = {"image": _image, "folder": _folder, "video": _video}[kind]
    try:
        rc = handler(job, args.src, args.output, not args.quiet)
    except TruncatedVideo as exc:
        sys.stderr.write(f"error: {exc}; the {exc.frames} frames before it were enhanced into {args.output}\n")
        rc = exc.exit_code
    job.finish()
    print(summary(job, args.src, args.output, time.monotonic() - started))
    return rc


def summary(job: Job, src: Path, dst: Path, seconds: float) -> str:
    """The line after each job: what was written where, how fast, with what."""
    d = job.enhancer.describe()
    rate = job.frames / seconds if seconds > 0 else 0.0
    return (f"enhanced {job.frames} frame{'s' if job.frames != 1 else ''} of {src} -> {dst} in {seconds:.1f} s "
            f"({rate:.2f} frames/s; {d['model']} {d['model_version']}, {d['backend']} {d['device']} "
            f"{d['precision']}, {d['steps']} step{'s' if d['steps'] != 1 else ''}{averaged(d)}"
            f"{tone_anchored(d['tone_anchor'])})")


def averaged(described: dict) -> str:
    """', mean of N samples' (and whether every second one is mirrored) when each frame averages
    several sampler runs."""
    return ", " + samples_per_frame(described["average"], described["mirror"]) if described["average"] > 1 else ""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(src: Path, outputs: list[Path | None], kind: str, overwrite: bool) -> None:
    """Refuse, before any work, to write over the input (never allowed) or
    over an existing output (unless ``overwrite``); for a folder, over any
    file the run would write."""
    outs = [o for o in outputs if o is not None]
    if len(outs) == 2 and _same_file(*outs):
        raise UserError(f"output {outs[0]} and --uncertainty {outs[1]} are the same path; give two")
    for out in outs:
        if _same_file(src, out):
            raise UserError(f"output {out} is the input {src}; choose another path so the original footage is kept")
        if kind == "folder":
            if out.is_dir() and not overwrite:
                taken = [out / p.name for p in folder_images(src) if (out / p.name).exists()]
                if taken:
                    raise UserError(f"output {taken[0]} already exists ({len(taken)} of the folder's outputs do); "
                                    "pass --overwrite to replace them")
        elif out.exists() and not out.is_dir() and not overwrite:
            raise UserError(f"output {out} already exists; pass --overwrite to replace it")


def _image(job: Job, src: Path, dst: Path, progress: bool) -> int:
    if dst.is_dir():
        raise UserError(f"output {dst} is a folder; for an image input give an image path")
    out, unc = job.frame(read_image(src))
    write_image(dst, out)
    if unc is not None:
        write_image(job.uncertainty, unc)
        job.record.add(src, dst, job.uncertainty)
    job.frames = 1
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
            job.frames += 1
        except UserError as exc:  # one bad file must not stop the others
            failures.append(str(exc))
    for message in failures:
        sys.stderr.write(f"error: {message}\n")
    return 1 if failures else 0


def _video(job: Job, src: Path, dst: Path, progress: bool) -> int:
    """A video frame by frame. A recording that stops decoding early keeps the
    frames before the cut (written, then TruncatedVideo re-raised for the
    exit code); an interruption or any other error leaves no output."""
    reader = VideoReader(src)
    bar = Progress(reader.info.frames or None, "enhance", enabled=progress)
    truncated: TruncatedVideo | None = None
    writers = [AtomicVideoWriter(dst, reader.info)]
    try:
        if job.uncertainty:
            writers.append(AtomicVideoWriter(job.uncertainty, reader.info))
        enhance = job.video_frames()
        try:
            for rgb in reader:  # the stream's one seed and temporal filter: a static scene stays static
                for writer, frame in zip(writers, enhance(rgb)):
                    writer.write(frame)
                job.frames += 1
                bar.update()
        except TruncatedVideo as exc:
            truncated = exc
        if job.frames == 0:
            raise UserError(f"{truncated}; no frame decodes, nothing was written" if truncated
                            else f"video {src} holds no frames")
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        bar.close()
    for writer in writers:
        writer.commit()
    if job.record is not None:
        job.record.add(src, dst, job.uncertainty, frames=job.frames)
    if truncated is not None:
        raise truncated
    return 0
