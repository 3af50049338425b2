"""Box side of fleet model updates: from an accepted offer to an enhancer
ready to swap in, off the frame loop.

After checks.py has accepted the offer: the archive is fetched (URL, or
chunks over MQTT with re-requests for missing ones), its size and sha256
checked, unpacked in staging, its manifest compared byte for byte with the
signed one and every file verified; it is compiled for the configured device
and smoke-tested on the bundle's reference frame. Only then does the update
controller hand it to the agent's loop, which swaps it in between frames.
"""
from __future__ import annotations

import shutil
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import CommandError, UserError
from ..fsutil import sha256_bytes, sha256_file
from ..media import read_image
from ..runtime.bundle import MANIFEST, Bundle, load_bundle, unpack_archive
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .protocol import CHUNK_TIMEOUT_S, NEED_INTERVAL_S, STAGES, Offer
from .store import ModelStore, crash_point
from .transfer import ChunkReceiver, fetch_url

Progress = Callable[[str, dict[str, Any]], None]  # (stage, extra reply fields)
Done = Callable[[Path | None, Enhancer | None, str | None], None]  # (installed bundle, its enhancer, error)


@dataclass(frozen=True)
class Limits:
    """How long and how big a transfer and its unpacked bundle may be."""

    schemes: tuple[str, ...] = ("https",)
    deadline_s: float = 600.0  # the whole download
    min_rate_bps: float = 10_000.0  # URL downloads
    stall_s: float = CHUNK_TIMEOUT_S  # chunks: no new chunk for this long ends the transfer
    max_unpacked_bytes: int = 512 << 20
    max_files: int = 64


def check_archive_members(archive: Path, offer: Offer, limits: Limits) -> None:
    """Read the tar headers only (stopping at the first one over a limit):
    refuse a decompression bomb or a file flood before a byte is written."""
    max_bytes = min(limits.max_unpacked_bytes, offer.meta["unpacked_size"])
    max_files = min(limits.max_files, offer.meta["file_count"])
    total = count = 0
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                total += member.size
                count += 1
                if total > max_bytes or count > max_files + 8:  # + folders
                    raise CommandError(f"update refused: the archive unpacks to more than {max_bytes} bytes or "
                                       f"{max_files} files (decompression bomb)")
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise CommandError(f"update refused: the archive cannot be read ({exc.__class__.__name__})") from None


def install_archive(offer: Offer, archive: Path, store: ModelStore, limits: Limits = Limits()) -> Path:
    """Unpack and verify the archive in staging, then adopt it into the store."""
    if archive.stat().st_size != offer.archive_size or sha256_file(archive) != offer.archive_sha256:
        raise CommandError("update refused: the transferred archive does not match its size/sha256 (truncated or corrupt)")
    check_archive_members(archive, offer, limits)
    crash_point("install-before-unpack")
    digest = sha256_bytes(offer.manifest_bytes)[:8]
    name = f"{offer.version_code}-{digest}"
    work = store.staging / f"{name}.unpack"
    shutil.rmtree(work, ignore_errors=True)
    ok = False
    try:
        unpack_archive(archive, work)
        crash_point("install-after-unpack")
        if (work / MANIFEST).read_bytes() != offer.manifest_bytes:
            raise CommandError("update refused: the archive's manifest is not the signed one")
        load_bundle(work)  # every file's size and sha256, and nothing unlisted
        ok = True
    except UserError as exc:
        raise CommandError(f"update refused: {exc}") from None
    except OSError as exc:
        raise CommandError(f"update refused: the archive cannot be unpacked ({exc.__class__.__name__})") from None
    finally:
        if not ok:  # staging is cleaned on every failure
            shutil.rmtree(work, ignore_errors=True)
    crash_point("install-before-adopt")
    return store.adopt(work, name)


def smoke_test(bundle: Bundle, settings: EnhanceSettings) -> Enhancer:
    """Compile for the configured device and reproduce the reference output."""
    ref = bundle.manifest.get("reference")
    if not ref:
        raise CommandError("update refused: the bundle carries no reference frame to smoke-test")
    # older bundles' references are single samples
    enhancer = Enhancer(bundle, EnhanceSettings(**{**settings.__dict__, "steps": ref["steps"], "seed": ref["seed"],
                                                   "average": int(ref.get("average", 1))}))
    out = enhancer.enhance_float(read_image(bundle.root / ref["input"]), ref["seed"])
    expected = read_image(bundle.root / ref["expected"]["fp32"]).astype(np.float32) / 255.0
    tolerance = float(ref["tolerance"][settings.precision] if isinstance(ref["tolerance"], dict) else ref["tolerance"])
    error = float(np.abs(out - expected).mean())
    if not np.isfinite(error) or error > tolerance:
        raise CommandError(f"update refused: smoke test failed (mean error {error:.4f} > tolerance {tolerance})")
    enhancer.set_steps(settings.steps or bundle.sampler.default_steps)
    enhancer.set_average(settings.average or bundle.sampler.average)
    return enhancer


def failure_reason(exc: Exception) -> str:
    """The one wording of a failed update job's error (the controller reports it
    as the ``refused`` outcome), for jobs that start from an offer and from a
    staged update alike, so the same failure reads the same either way."""
    if isinstance(exc, CommandError):
        return str(exc)  # worded for the reply where it was raised ("update refused: ...", "update download ...")
    if isinstance(exc, UserError):
        return f"update refused: {exc}"  # e.g. a BundleError from load_bundle: its message names the file only
    return f"update failed: {exc.__class__.__name__}: {exc}"  # a bug or the OS: named, never a crash of the agent


def report_outcome(work: Callable[[], tuple[Path, Enhancer]], done: Done) -> None:
    """Run a job's ``work`` and hand its outcome to ``done``: the installed
    bundle and its enhancer, or the reason it failed. Never raises: the job
    runs on its own thread, where an exception would vanish unreported."""
    try:
        bundle_dir, enhancer = work()
    except Exception as exc:  # every failure, whatever its class, becomes an outcome
        done(None, None, failure_reason(exc))
        return
    done(bundle_dir, enhancer, None)


class UpdateJob(threading.Thread):
    """Fetch, install and smoke-test one offer off the frame loop; the result
    (an Enhancer ready to swap in, or an error) goes to ``done``. Whatever
    happens, staging holds nothing of this job afterwards."""

    def __init__(self, offer: Offer, store: ModelStore, settings: EnhanceSettings, progress: Progress,
                 request_chunks: Callable[[list[int]], None], done: Done, limits: Limits = Limits()) -> None:
        super().__init__(name="model-update", daemon=True)
        self.offer, self.store, self.settings, self.limits = offer, store, settings, limits
        self.progress, self.request_chunks, self.done = progress, request_chunks, done
        self.stop = threading.Event()
        self.receiver = (ChunkReceiver(store.staging / f"chunks-{offer.transfer_id}", offer.chunk_count,
                                       offer.archive_size) if offer.transfer_id else None)

    def run(self) -> None:
        """The job; the outcome always goes to ``done``, and staging is cleaned whatever it is."""
        archive = self.store.staging / f"{self.offer.archive_sha256[:16]}.tar"
        try:
            report_outcome(lambda: self._install(archive), self.done)
        finally:
            archive.unlink(missing_ok=True)
            archive.with_suffix(".part").unlink(missing_ok=True)
            if self.receiver:
                shutil.rmtree(self.receiver.folder, ignore_errors=True)

    def _install(self, archive: Path) -> tuple[Path, Enhancer]:
        """Download to ``archive``, install, smoke-test: the bundle and its enhancer."""
        downloading, installing, smoke_testing = STAGES
        self.progress(downloading, {})
        if self.offer.url:
            part = archive.with_suffix(".part")
            fetch_url(self.offer.url, part, self.offer.archive_size, self.limits.schemes,
                      self.limits.deadline_s, self.limits.min_rate_bps, self.stop)
            part.replace(archive)
        else:
            self._receive_chunks(archive)
        crash_point("job-downloaded")
        self.progress(installing, {})
        bundle_dir = install_archive(self.offer, archive, self.store, self.limits)
        self.progress(smoke_testing, {})
        crash_point("job-before-smoke-test")
        enhancer = smoke_test(load_bundle(bundle_dir), self.settings)
        crash_point("job-smoke-tested")
        return bundle_dir, enhancer

    def _receive_chunks(self, archive: Path) -> None:
        """Wait for every chunk, asking again for the missing ones now and
        then; give up after ``stall_s`` without a new chunk or at the deadline."""
        assert self.receiver is not None
        start = last_progress = time.monotonic()
        last_request, last_missing = 0.0, self.receiver.count + 1
        while missing := self.receiver.missing():
            now = time.monotonic()
            if len(missing) < last_missing:
                last_missing, last_progress = len(missing), now
            if now - last_progress > self.limits.stall_s or now - start > self.limits.deadline_s or self.stop.is_set():
                raise CommandError(f"update transfer timed out with {len(missing)} of {self.receiver.count} "
                                   "chunks missing")
            if now - last_request > NEED_INTERVAL_S * 2:
                self.request_chunks(missing[:1000])  # ask again for what has not arrived (dropped, or we restarted)
                last_request = now
            with self.receiver.arrived:
                self.receiver.arrived.wait(min(NEED_INTERVAL_S, self.limits.stall_s))
        crash_point("job-chunks-complete")
        part = archive.with_suffix(".part")
        self.receiver.assemble(part)
        part.replace(archive)


class StagedInstall(threading.Thread):
    """Install a staged update (``updates.auto_install: false``) on command:
    verify its files again, compile and smoke-test it off the frame loop, as
    on arrival; the outcome goes to ``done`` and the loop swaps it in."""

    def __init__(self, bundle_dir: Path, settings: EnhanceSettings, progress: Progress, done: Done) -> None:
        super().__init__(name="model-install", daemon=True)
        self.bundle_dir, self.settings, self.progress, self.done = bundle_dir, settings, progress, done

    def run(self) -> None:
        """The job; the outcome always goes to ``done``."""
        report_outcome(self._install, self.done)

    def _install(self) -> tuple[Path, Enhancer]:
        """Verify, smoke-test: the bundle and its enhancer."""
        _, installing, smoke_testing = STAGES
        self.progress(installing, {})
        bundle = load_bundle(self.bundle_dir)  # every file's size and sha256 again: the disk may have changed
        self.progress(smoke_testing, {})
        return self.bundle_dir, smoke_test(bundle, self.settings)
