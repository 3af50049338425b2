"""The update wire format, one module for both sides: what a fleet manager
sends (updates/fleet.py) and what a box accepts (updates/checks.py,
install.py, controller.py).

An offer is the ``args`` of an ``update`` command (see mqtt/commands.py for
the envelope)::

    {"metadata": <base64 canonical JSON, below>, "signatures": [{"key_id": .., "signature": <base64>}, ...],
     "manifest": <base64 manifest.json>, "signature": <base64 manifest.json.sig>}

The metadata is what the fleet's update keys sign (TUF's *targets* role, a
threshold of them): everything a box acts on, so nothing unsigned steers it::

    {"_type": "edge-agent/update", "spec": 1, "version_code": n, "manifest_sha256": hex,
     "archive_sha256": hex, "archive_size": bytes, "unpacked_size": bytes, "file_count": n,
     "transfer": {"url": <https URL>} | {"chunks": {"id": <alnum>, "count": n, "size": CHUNK_BYTES}},
     "devices": [<device id> | <group> | "fleet", ...], "issued_at": t, "expires_at": t,
     "floor": n, "downgrade": false, "release_summary": <text, optional>}

``expires_at`` defeats freeze attacks, ``devices`` binds an offer to its
boxes, ``floor`` (kept by the box, never lowered) and ``downgrade`` defeat
rollback attacks, and a box remembers every metadata digest it accepted, so a
captured offer does not run twice. Chunks travel on the ``chunk`` topic, raw
bytes; a box asks for the ones it misses with ``{"missing": [i, ...]}`` on
``need``. The box answers the command with one reply per stage (``STAGES``)
and ends with one of ``FINAL_STAGES`` (``staged`` where the box keeps
verified updates for an install command), also published retained on
``update_result``.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ..errors import CommandError

CHUNK_BYTES = 100_000  # under the 128 KB message limit many brokers and gateways use
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # a box refuses larger offers before fetching a byte
MAX_CHUNKS = (MAX_ARCHIVE_BYTES + CHUNK_BYTES - 1) // CHUNK_BYTES
MAX_METADATA_BYTES = 16 * 1024
MAX_MANIFEST_BYTES = 128 * 1024
MAX_SIGNATURES = 8
MAX_LIFETIME_S = 30 * 24 * 3600.0  # an offer valid longer than this is refused (freeze attacks need short expiry)
CHUNK_TIMEOUT_S = 120.0  # a chunked transfer that makes no progress this long is given up
NEED_INTERVAL_S = 2.0  # how often a box may ask again for missing chunks (twice this, in practice)
STAGES = ("downloading", "installing", "smoke-testing")  # progress replies, in order
FINAL_STAGES = ("installed", "staged", "refused", "rolled back")
MAX_SUMMARY_CHARS = 255  # Home Assistant's update entity shows at most this much of a release summary
METADATA_TYPE = "edge-agent/update"


def chunk_count(size: int) -> int:
    """How many chunks an archive of ``size`` bytes travels in."""
    return (size + CHUNK_BYTES - 1) // CHUNK_BYTES


def chunk(data: bytes, index: int) -> bytes:
    """The bytes of chunk ``index``."""
    return data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES]


def url_transfer(url: str) -> dict[str, Any]:
    """The offer's ``transfer`` for a download by URL."""
    return {"url": url}


def chunk_transfer(transfer_id: str, count: int) -> dict[str, Any]:
    """The offer's ``transfer`` for chunks over MQTT."""
    return {"chunks": {"id": transfer_id, "count": count, "size": CHUNK_BYTES}}


def canonical(obj: Any) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def offer_args(metadata: bytes, signatures: list[dict[str, str]], manifest: bytes, bundle_signature: bytes) -> dict[str, Any]:
    """The ``update`` command's args, as ``Offer.parse`` reads them."""
    return {"metadata": base64.b64encode(metadata).decode(), "signatures": signatures,
            "manifest": base64.b64encode(manifest).decode(), "signature": base64.b64encode(bundle_signature).decode()}


def release_summary(meta: dict[str, Any], manifest: dict[str, Any]) -> str:
    """What Home Assistant's update entity says about an offer: the signed
    metadata's ``release_summary``, else the signed manifest's
    (``release_summary`` or ``notes``), else its name and version."""
    for text in (meta.get("release_summary"), manifest.get("release_summary"), manifest.get("notes")):
        if isinstance(text, str) and text.strip():
            return text.strip()[:MAX_SUMMARY_CHARS]
    return f"{manifest.get('name', 'model')} {manifest.get('version', '')} (version code {manifest.get('version_code')})"


def need_message(missing: list[int]) -> dict[str, Any]:
    """What a box publishes on ``need``."""
    return {"missing": missing}


def missing_of(need: Any) -> list[int]:
    """The chunk indices a ``need`` message asks for (the sender checks the range)."""
    missing = need.get("missing", []) if isinstance(need, dict) else []
    return [i for i in missing[:MAX_CHUNKS] if isinstance(i, int)] if isinstance(missing, list) else []


def _b64(args: dict[str, Any], key: str, limit: int) -> bytes:
    value = args.get(key)
    if not isinstance(value, str) or len(value) > limit * 4 // 3 + 4:
        raise CommandError(f"update offer needs '{key}' as base64 of at most {limit} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise CommandError(f"update offer '{key}' is not base64") from None


def _int(meta: dict[str, Any], key: str, low: int, high: int) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CommandError(f"update metadata '{key}' must be an integer in {low}..{high}, got {str(value)[:40]}")
    return value


def _number(meta: dict[str, Any], key: str) -> float:
    value = meta.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1e11:
        raise CommandError(f"update metadata '{key}' must be a finite unix time")
    return float(value)


def _hex(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise CommandError(f"update metadata '{key}' must be 64 lowercase hex digits")
    return value


@dataclass(frozen=True)
class Offer:
    """An offer as a box received it, checked for shape and limits (not yet for trust)."""

    metadata_bytes: bytes
    signatures: list[tuple[str, bytes]]  # (key id, signature)
    manifest_bytes: bytes
    signature: bytes  # the bundle's own manifest.json.sig
    meta: dict[str, Any]
    version_code: int
    archive_sha256: str
    archive_size: int
    url: str | None
    transfer_id: str | None
    chunk_count: int

    @classmethod
    def parse(cls, args: Any) -> "Offer":
        """Decode the command's args; refuses a malformed offer or one over the limits."""
        if not isinstance(args, dict):
            raise CommandError("update offer must be an object")
        metadata = _b64(args, "metadata", MAX_METADATA_BYTES)
        signatures = _signatures(args.get("signatures"))
        manifest, bundle_sig = _b64(args, "manifest", MAX_MANIFEST_BYTES), _b64(args, "signature", 4096)
        try:
            meta = json.loads(metadata, parse_constant=_refuse)
        except (ValueError, RecursionError, UnicodeDecodeError):
            raise CommandError("update metadata is not JSON") from None
        if not isinstance(meta, dict) or meta.get("_type") != METADATA_TYPE or meta.get("spec") != 1:
            raise CommandError(f"update metadata must be an object of _type {METADATA_TYPE} and spec 1")
        url, transfer_id, count = _transfer(meta.get("transfer"))
        size = _int(meta, "archive_size", 1, MAX_ARCHIVE_BYTES)
        if transfer_id is not None and count != chunk_count(size):
            raise CommandError(f"update transfer.chunks.count {count} does not match archive_size {size} "
                               f"({chunk_count(size)} chunks of {CHUNK_BYTES})")
        for key in ("issued_at", "expires_at"):
            _number(meta, key)
        for key in ("unpacked_size", "file_count", "floor"):
            _int(meta, key, 0, 1 << 40)
        devices = meta.get("devices")
        if not isinstance(devices, list) or not 0 < len(devices) <= 1000 or not all(isinstance(d, str) for d in devices):
            raise CommandError("update metadata 'devices' must be a list of 1..1000 device ids or groups")
        if not isinstance(meta.get("downgrade", False), bool):
            raise CommandError("update metadata 'downgrade' must be true or false")
        if not isinstance(meta.get("release_summary", ""), str):
            raise CommandError("update metadata 'release_summary' must be text")
        return cls(metadata, signatures, manifest, bundle_sig, meta, _int(meta, "version_code", 0, 1 << 53),
                   _hex(meta, "archive_sha256"), size, url, transfer_id, count)


def _refuse(text: str) -> Any:
    raise CommandError(f"'{text}' is not allowed in update metadata")


def _signatures(value: Any) -> list[tuple[str, bytes]]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SIGNATURES:
        raise CommandError(f"update offer needs 'signatures': a list of 1..{MAX_SIGNATURES} {{key_id, signature}}")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("key_id"), str) or len(entry["key_id"]) > 64:
            raise CommandError("update offer signature entries need 'key_id' and 'signature'")
        out.append((entry["key_id"], _b64(entry, "signature", 128)))
    return out


def _transfer(transfer: Any) -> tuple[str | None, str | None, int]:
    """(url, chunk transfer id, chunk count) from the signed ``transfer``."""
    if not isinstance(transfer, dict) or len(transfer) != 1:
        raise CommandError("update transfer needs exactly one of transfer.url and transfer.chunks")
    if "url" in transfer:
        url = transfer["url"]
        if not isinstance(url, str) or not 0 < len(url) <= 2048:
            raise CommandError("update transfer.url must be a URL of at most 2048 characters")
        return url, None, 0
    chunks = transfer.get("chunks")
    if not isinstance(chunks, dict):
        raise CommandError("update transfer needs exactly one of transfer.url and transfer.chunks")
    tid, count, size = chunks.get("id"), chunks.get("count"), chunks.get("size", CHUNK_BYTES)
    if not isinstance(tid, str) or not 0 < len(tid) <= 64 or not (tid.isascii() and tid.isalnum()):
        raise CommandError("update transfer.chunks needs an alphanumeric id of 1..64 characters")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CHUNKS:
        raise CommandError(f"update transfer.chunks.count must be 1..{MAX_CHUNKS}")
    if size != CHUNK_BYTES:
        raise CommandError(f"update transfer.chunks.size must be {CHUNK_BYTES}")
    return None, tid, count
