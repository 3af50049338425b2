"""Box side of fleet model updates.

An offer arrives as the ``update`` command. In order, and before any byte of
payload is fetched: the Ed25519 signature over the offered manifest is
checked against the trusted keys; the version must be above the installed
one unless a signed downgrade comes with it; no file in the manifest may
escape the bundle; the input spec must be one this runtime speaks. Then the
archive is fetched (URL, or chunks over MQTT with re-requests for missing
ones), its size and sha256 checked, unpacked in staging, its manifest
compared byte for byte with the signed one and every file verified; it is
compiled for the configured device and smoke-tested on the bundle's
reference frame. Only then does the agent loop swap it in, between frames.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from ..errors import CommandError, UserError
from ..fsutil import sha256_file
from ..media import read_image
from .store import ModelStore
from ..runtime.bundle import MANIFEST, Bundle, load_bundle, parse_manifest, unpack_archive
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .signing import load_public_key, verify_signature

CHUNK_TIMEOUT_S = 120.0
NEED_INTERVAL_S = 2.0
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


def downgrade_statement(manifest_bytes: bytes) -> bytes:
    """What a fleet manager signs to allow installing an older version."""
    return b"edge-agent downgrade:" + hashlib.sha256(manifest_bytes).hexdigest().encode()


@dataclass(frozen=True)
class Offer:
    manifest_bytes: bytes
    signature: bytes
    archive_sha256: str
    archive_size: int
    url: str | None
    transfer_id: str | None
    chunk_count: int
    downgrade_signature: bytes | None

    @classmethod
    def parse(cls, args: dict[str, Any]) -> "Offer":
        try:
            manifest = base64.b64decode(args["manifest"], validate=True)
            signature = base64.b64decode(args["signature"], validate=True)
            transfer = args["transfer"]
            down = args.get("downgrade_signature")
            offer = cls(manifest, signature, str(args["archive_sha256"]), int(args["archive_size"]),
                        transfer.get("url"), transfer.get("chunks", {}).get("id"),
                        int(transfer.get("chunks", {}).get("count", 0)),
                        base64.b64decode(down, validate=True) if down else None)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CommandError("update offer is malformed; needs manifest, signature (base64), archive_sha256, "
                               "archive_size and transfer.url or transfer.chunks {id, count}") from None
        if (offer.url is None) == (offer.transfer_id is None):
            raise CommandError("update offer needs exactly one of transfer.url and transfer.chunks")
        if not 0 < offer.archive_size <= MAX_ARCHIVE_BYTES:
            raise CommandError(f"update archive size {offer.archive_size} is not allowed; allowed: 1..{MAX_ARCHIVE_BYTES}")
        if offer.transfer_id is not None and (not offer.transfer_id.isalnum() or offer.chunk_count < 1):
            raise CommandError("update transfer.chunks needs an alphanumeric id and a count of at least 1")
        return offer


def check_offer(offer: Offer, trusted_key_paths: list[str], installed_version_code: int) -> dict[str, Any]:
    """Everything that can be refused before downloading; returns the manifest."""
    trusted = [load_public_key(Path(p)) for p in trusted_key_paths]
    try:
        verify_signature(offer.manifest_bytes, offer.signature, trusted)
    except UserError as exc:
        raise CommandError(f"update refused: {exc}") from None
    manifest = json.loads(offer.manifest_bytes)
    version_code = int(manifest.get("version_code", -1))
    if version_code <= installed_version_code:
        if offer.downgrade_signature is None:
            raise CommandError(f"update refused: version code {version_code} is not above the installed "
                               f"{installed_version_code} (anti-rollback); a signed downgrade is required")
        if not any(_verifies(k, offer.downgrade_signature, downgrade_statement(offer.manifest_bytes)) for k in trusted):
            raise CommandError("update refused: the downgrade signature does not verify")
    for rel in manifest.get("files", {}):
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or rel.startswith("\\"):
            raise CommandError(f"update refused: file path '{rel}' escapes the bundle")
    try:
        parse_manifest(Path("offer"), manifest)  # the same checks as loading, incl. the input spec
    except UserError as exc:
        raise CommandError(f"update refused: {exc}") from None
    return manifest


def _verifies(key: Any, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
        return True
    except Exception:  # cryptography raises InvalidSignature
        return False


class ChunkReceiver:
    """Collects chunks of one transfer on disk, so a restart resumes."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder, self.count = folder, count
        folder.mkdir(parents=True, exist_ok=True)
        self.arrived = threading.Condition()

    def put(self, index: int, data: bytes) -> None:
        if not 0 <= index < self.count:
            return
        tmp = self.folder / f"{index}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.folder / f"{index}.chunk")
        with self.arrived:
            self.arrived.notify_all()

    def missing(self) -> list[int]:
        return [i for i in range(self.count) if not (self.folder / f"{i}.chunk").exists()]

    def assemble(self, out: Path) -> None:
        with open(out, "wb") as f:
            for i in range(self.count):
                f.write((self.folder / f"{i}.chunk").read_bytes())


def fetch_url(url: str, out: Path, timeout: float = 60.0) -> None:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise CommandError(f"update URL scheme '{scheme}' is not allowed; allowed: http, https, file")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out, "wb") as f:  # noqa: S310 (scheme checked)
        remaining = MAX_ARCHIVE_BYTES + 1
        while chunk := response.read(1 << 16):
            remaining -= len(chunk)
            if remaining < 0:
                raise CommandError("update download is larger than allowed")
            f.write(chunk)


def install_archive(offer: Offer, archive: Path, store: ModelStore) -> Path:
    if archive.stat().st_size != offer.archive_size or sha256_file(archive) != offer.archive_sha256:
        raise CommandError("update refused: the transferred archive does not match its size/sha256 (truncated or corrupt)")
    digest = hashlib.sha256(offer.manifest_bytes).hexdigest()[:8]
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

    def __init__(self, offer: Offer, store: ModelStore, settings: EnhanceSettings,
                 progress: Callable[[str, dict[str, Any]], None], request_chunks: Callable[[list[int]], None],
                 done: Callable[[Path | None, Enhancer | None, str | None], None]) -> None:
        super().__init__(name="model-update", daemon=True)
        self.offer, self.store, self.settings = offer, store, settings
        self.progress, self.request_chunks, self.done = progress, request_chunks, done
        self.receiver = (ChunkReceiver(store.staging / f"chunks-{offer.transfer_id}", offer.chunk_count)
                         if offer.transfer_id else None)

    def run(self) -> None:
        archive = self.store.staging / f"{self.offer.archive_sha256[:16]}.tar"
        try:
            self.progress("downloading", {})
            if self.offer.url:
                part = archive.with_suffix(".part")
                fetch_url(self.offer.url, part)
                part.replace(archive)
            else:
                self._receive_chunks(archive)
            self.progress("installing", {})
            bundle_dir = install_archive(self.offer, archive, self.store)
            self.progress("smoke-testing", {})
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
