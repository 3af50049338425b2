"""Everything a box refuses about an offer before fetching a byte of it.

TUF's guarantees, checked on the signed metadata (protocol.py): a threshold
of distinct trusted update keys signed it (a bad signature under a trusted
key is refused as tampering, a key of another role is simply not trusted);
it is not expired and not issued in the future (freeze attacks); it names
this box, its group or the fleet; it has not been accepted before (replay);
its version is above the running one unless it is a signed downgrade, and
never below the box's floor (rollback attacks); its transfer is of an
allowed scheme and within the size caps; the manifest it names is the one
offered, signed, listing no path that escapes the bundle, with an input spec
this runtime speaks (the same checks as loading a bundle).
"""
from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import CommandError, UserError
from ..fsutil import sha256_bytes
from ..runtime.bundle import parse_manifest
from .protocol import MAX_LIFETIME_S, Offer
from .signing import key_id, load_public_key, verify_signature


@dataclass
class Policy:
    """What this box accepts: its keys and threshold, who it is, its limits and history."""

    trusted_key_paths: list[str]
    threshold: int = 1
    targets: set[str] = field(default_factory=lambda: {"fleet"})
    url_schemes: tuple[str, ...] = ("https",)
    max_unpacked_bytes: int = 512 << 20
    max_files: int = 64
    clock_skew_s: float = 300.0
    floor: int = 0  # the lowest version this box may ever install again
    seen: frozenset[str] = frozenset()  # metadata digests already accepted


def check_offer(offer: Offer, policy: Policy, installed_version_code: int, now: float | None = None) -> dict[str, Any]:
    """Everything that can be refused before downloading; returns the bundle manifest."""
    now = time.time() if now is None else now
    trusted = [load_public_key(Path(p)) for p in policy.trusted_key_paths]
    check_threshold(offer, trusted, policy.threshold)
    meta = offer.meta
    _check_time_and_target(meta, policy, now)
    if sha256_bytes(offer.metadata_bytes) in policy.seen:
        raise CommandError("update refused: this offer was accepted before (replayed offer)")
    if meta["manifest_sha256"] != sha256_bytes(offer.manifest_bytes):
        raise CommandError("update refused: the manifest is not the one the metadata signs")
    try:
        verify_signature(offer.manifest_bytes, offer.signature, trusted)
        manifest = json.loads(offer.manifest_bytes)
        parse_manifest(Path("offer"), manifest)  # the same checks as loading, incl. the input spec
    except UserError as exc:
        raise CommandError(f"update refused: {exc}") from None
    except ValueError:
        raise CommandError("update refused: the manifest is not JSON") from None
    if manifest.get("version_code") != offer.version_code:
        raise CommandError("update refused: the metadata's version_code is not the manifest's")
    _check_version(offer, policy.floor, installed_version_code)
    _check_transfer(offer, policy)
    _check_files(manifest, meta, policy)
    return manifest


def check_threshold(offer: Offer, trusted: list[Ed25519PublicKey], threshold: int) -> set[str]:
    """The distinct trusted key ids whose signatures verify; at least ``threshold`` of them."""
    by_id = {key_id(k): k for k in trusted}
    good: set[str] = set()
    for kid, signature in offer.signatures:
        key = by_id.get(kid)
        if key is None:
            continue
        try:
            key.verify(signature, offer.metadata_bytes)
        except InvalidSignature:
            raise CommandError(f"update refused: the signature by trusted key {kid} does not verify (tampered)") from None
        good.add(kid)
    if len(good) < threshold:
        named = ", ".join(k for k, _ in offer.signatures)
        raise CommandError(f"update refused: signed by {len(good)} trusted key(s), {threshold} needed "
                           f"(signers: {named}; not among the trusted keys: {len(offer.signatures) - len(good)})")
    return good


def _check_time_and_target(meta: dict[str, Any], policy: Policy, now: float) -> None:
    issued, expires = meta["issued_at"], meta["expires_at"]
    if now >= expires:
        raise CommandError(f"update refused: the offer's metadata expired at {expires:.0f} (freeze attack or stale)")
    if issued - now > policy.clock_skew_s:
        raise CommandError("update refused: the offer is issued in the future (clock skew)")
    if expires - issued > MAX_LIFETIME_S:
        raise CommandError(f"update refused: metadata valid for more than {MAX_LIFETIME_S / 86400:.0f} days")
    if not set(meta["devices"]) & policy.targets:
        raise CommandError(f"update refused: the offer is for {meta['devices'][:5]}, not this box")


def _check_version(offer: Offer, floor: int, installed: int) -> None:
    version = offer.version_code
    if version < floor or version < offer.meta["floor"]:
        raise CommandError(f"update refused: version code {version} is below this box's floor {floor} (rollback attack)")
    if version <= installed and not offer.meta.get("downgrade"):
        raise CommandError(f"update refused: version code {version} is not above the installed {installed} "
                           "(anti-rollback); a signed downgrade is required")


def _check_transfer(offer: Offer, policy: Policy) -> None:
    if offer.url is not None:
        scheme = urllib.parse.urlparse(offer.url).scheme
        if scheme not in policy.url_schemes:
            raise CommandError(f"update refused: URL scheme '{scheme}' is not allowed; allowed: "
                               f"{', '.join(policy.url_schemes)}")


def _check_files(manifest: dict[str, Any], meta: dict[str, Any], policy: Policy) -> None:
    files = manifest.get("files", {})
    for rel in files:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or rel.startswith("\\"):
            raise CommandError(f"update refused: file path '{rel}' escapes the bundle")
    if meta["unpacked_size"] > policy.max_unpacked_bytes or meta["file_count"] > policy.max_files:
        raise CommandError(f"update refused: the bundle unpacks to {meta['unpacked_size']} bytes in "
                           f"{meta['file_count']} files; limits {policy.max_unpacked_bytes} bytes, {policy.max_files} files")
