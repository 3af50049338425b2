"""Everything a box can refuse about an offer before fetching a byte of it.

In order: the Ed25519 signature over the offered manifest against the
trusted keys; a version above the installed one unless a signed downgrade
comes with it (anti-rollback: an attacker replaying an old, vulnerable but
validly signed model is refused); no file path escaping the bundle; an input
spec this runtime speaks (the same checks as loading a bundle).
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import CommandError, UserError
from ..runtime.bundle import parse_manifest
from .protocol import Offer, downgrade_statement
from .signing import load_public_key, verify_signature


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
