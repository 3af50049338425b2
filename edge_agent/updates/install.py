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

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import CommandError, UserError
from ..fsutil import sha256_bytes, sha256_file
from ..media import read_image
from ..runtime.bundle import MANIFEST, Bundle, load_bundle, unpack_archive
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .protocol import CHUNK_TIMEOUT_S, NEED_INTERVAL_S, STAGES, Offer
from .store import ModelStore
from .transfer import ChunkReceiver, fetch_url

Progress = Callable[[str, dict[str, Any]], None]  # (stage, extra reply fields)
Done = Callable[[Path | None, Enhancer | None, str | None], None]  # (installed bundle, its enhancer, error)


def install_archive(offer: Offer, archive: Path, store: ModelStore) -> Path:
    """Unpack and verify the archive in staging, then adopt it into the store."""
    if archive.stat().st_size != offer.archive_size or sha256_file(archive) != offer.archive_sha256:
        raise CommandError("update refused: the transferred archive does not match its size/sha256 (truncated or corrupt)")
    digest = sha256_bytes(offer.manifest_bytes)[:8]
    name = f"{json.loads(offer.manifest_bytes)['version_code']}-{digest}"
    work = store.staging / f"{name}.unpack"
    shutil.rmtree(work, ignore_errors=True)
    try:
        unpack_archive(archive, work)
        if (work / MANIFEST).read_bytes() != offer.manifest_bytes:
            raise CommandError("update refused: the archive's manifest is not the signed one")
        load_bundle(work)  # every file's size and sha256, and nothing unlisted
    except UserError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise CommandError(f"update refused: {exc}") from None
    return store.adopt(work, name)


def smoke_test(bundle: Bundle, settings: EnhanceSettings) -> Enhancer:
    """Compile for the configured device and reproduce the reference output."""
    ref = bundle.manifest.get("reference")
    if not ref:
        raise CommandError("update refused: the bundle carries no reference frame to smoke-test")
    enhancer = Enhancer(bundle, EnhanceSettings(**{**settings.__dict__, "steps": ref["steps"], "seed": ref["seed"]}))
    out = enhancer.enhance_float(read_image(bundle.root / ref["input"]), ref["seed"])
    expected = read_image(bundle.root / ref["expected"]["fp32"]).astype(np.float32) / 255.0
    tolerance = float(ref["tolerance"][settings.precision] if isinstance(ref["tolerance"], dict) else ref["tolerance"])
    error = float(np.abs(out - expected).mean())
    if not np.isfinite(error) or error > tolerance:
        raise CommandError(f"update refused: smoke test failed (mean error {error:.4f} > tolerance {tolerance})")
    enhancer.set_steps(settings.steps or bundle.sampler.default_steps)
    return enhancer


class UpdateJob(threading.Thread):
    """Fetch, install and smoke-test one offer off the frame loop; the result
    (an Enhancer ready to swap in, or an error) goes to ``done``."""

    def __init__(self, offer: Offer, store: ModelStore, settings: EnhanceSettings, progress: Progress,
                 request_chunks: Callable[[list[int]], None], done: Done) -> None:
        super().__init__(name="model-update", daemon=True)
        self.offer, self.store, self.settings = offer, store, settings
        self.progress, self.request_chunks, self.done = progress, request_chunks, done
        self.receiver = (ChunkReceiver(store.staging / f"chunks-{offer.transfer_id}", offer.chunk_count)
                         if offer.transfer_id else None)

    def run(self) -> None:
        """The job: download, install, smoke-test; the outcome always goes to ``done``."""
        archive = self.store.staging / f"{self.offer.archive_sha256[:16]}.tar"
        downloading, installing, smoke_testing = STAGES
        try:
            self.progress(downloading, {})
            if self.offer.url:
                part = archive.with_suffix(".part")
                fetch_url(self.offer.url, part)
                part.replace(archive)
            else:
                self._receive_chunks(archive)
            self.progress(installing, {})
            bundle_dir = install_archive(self.offer, archive, self.store)
            self.progress(smoke_testing, {})
            enhancer = smoke_test(load_bundle(bundle_dir), self.settings)
            self.done(bundle_dir, enhancer, None)
        except UserError as exc:
            self.done(None, None, str(exc))
        except Exception as exc:  # anything else is reported, never crashes the agent
            self.done(None, None, f"update failed: {exc.__class__.__name__}: {exc}")
        finally:
            archive.unlink(missing_ok=True)
            if self.receiver:
                shutil.rmtree(self.receiver.folder, ignore_errors=True)

    def _receive_chunks(self, archive: Path) -> None:
        """Wait for every chunk, asking again for the missing ones now and then."""
        assert self.receiver is not None
        deadline = time.monotonic() + CHUNK_TIMEOUT_S
        last_request = 0.0
        while missing := self.receiver.missing():
            if time.monotonic() > deadline:
                raise CommandError(f"update transfer timed out with {len(missing)} of {self.receiver.count} chunks missing")
            if time.monotonic() - last_request > NEED_INTERVAL_S * 2:
                self.request_chunks(missing)  # ask again for what has not arrived (dropped, or we restarted)
                last_request = time.monotonic()
                deadline = max(deadline, time.monotonic() + 10)
            with self.receiver.arrived:
                self.receiver.arrived.wait(NEED_INTERVAL_S)
        part = archive.with_suffix(".part")
        self.receiver.assemble(part)
        part.replace(archive)
