"""Ed25519 signatures over a bundle's manifest.

The manifest lists every file's sha256 and size and the bundle's integer
version, so signing its exact bytes signs the whole bundle. The detached
signature lives in ``manifest.json.sig`` as JSON::

    {"algorithm": "ed25519", "key_id": "<16 hex>", "signature": "<base64>"}

``key_id`` is the first 16 hex digits of sha256(raw public key), so a box
with several trusted keys (key rotation) knows which one to try.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import BundleError, UserError
from ..fsutil import atomic_write_bytes
from ..runtime.bundle import MANIFEST, SIGNATURE


def key_id(public: Ed25519PublicKey) -> str:
    """The id a signature names its key by: 16 hex digits of sha256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(folder: Path, name: str = "fleet") -> tuple[Path, Path]:
    """Write NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (PEM)."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    if private.exists():
        raise UserError(f"key {private} already exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    atomic_write_bytes(public, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The fleet's signing key (PEM from `bundle keygen`), or a clear error."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"signing key {path} cannot be read ({exc.__class__.__name__}); allowed: an Ed25519 PEM "
                        "private key from `edge-agent bundle keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"signing key {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A trusted key from a box's config, or a clear error."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UserError(f"public key {path} cannot be read ({exc.__class__.__name__}); allowed: an Ed25519 PEM "
                        "public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f"public key {path} is not an Ed25519 key")
    return key


def sign_manifest(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The detached signature file's bytes for ``manifest_bytes``."""
    signature = {"algorithm": "ed25519", "key_id": key_id(key.public_key()),
                 "signature": base64.b64encode(key.sign(manifest_bytes)).decode()}
    return (json.dumps(signature) + "\n").encode()


def sign_bundle(root: Path, key: Ed25519PrivateKey) -> Path:
    """Sign a bundle folder's manifest in place (writes manifest.json.sig atomically)."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise BundleError(f"model bundle {root}: {MANIFEST} is missing")
    atomic_write_bytes(root / SIGNATURE, sign_manifest(manifest.read_bytes(), key))
    return root / SIGNATURE


def verify_signature(manifest_bytes: bytes, signature_bytes: bytes | None, trusted: list[Ed25519PublicKey]) -> str:
    """Returns the key id that signed; raises BundleError otherwise."""
    if signature_bytes is None:
        raise BundleError("bundle is unsigned; a trusted Ed25519 signature is required")
    try:
        sig = json.loads(signature_bytes)
        raw = base64.b64decode(sig["signature"], validate=True)
        if sig.get("algorithm") != "ed25519":
            raise ValueError(sig.get("algorithm"))
    except (ValueError, KeyError, TypeError):
        raise BundleError("bundle signature is malformed; allowed: ed25519 JSON from `edge-agent bundle sign`") from None
    for public in trusted:
        if key_id(public) != sig.get("key_id"):
            continue
        try:
            public.verify(raw, manifest_bytes)
            return key_id(public)
        except InvalidSignature:
            raise BundleError("bundle signature does not match its manifest (tampered)") from None
    raise BundleError(f"bundle is signed by key {sig.get('key_id')}, which is not among the trusted keys "
                      f"({', '.join(key_id(k) for k in trusted) or 'none configured'})")


def verify_bundle_signature(root: Path, trusted: list[Ed25519PublicKey]) -> str:
    """Verify a bundle folder's signature; returns the signing key's id."""
    sig_path = root / SIGNATURE
    return verify_signature((root / MANIFEST).read_bytes(), sig_path.read_bytes() if sig_path.exists() else None, trusted)
