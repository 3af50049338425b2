"""The update wire format, one module for both sides: what a fleet manager
sends (updates/fleet.py) and what a box accepts (updates/checks.py,
install.py, controller.py).

An offer is the ``args`` of an ``update`` command (see mqtt/commands.py for
the envelope)::

    {"manifest": <base64 manifest.json>, "signature": <base64 manifest.json.sig>,
     "archive_sha256": <hex>, "archive_size": <bytes>,
     "transfer": {"url": <http|https|file URL>} | {"chunks": {"id": <alnum>, "count": n, "size": CHUNK_BYTES}},
     "downgrade_signature": <base64 Ed25519 over downgrade_statement(manifest)>   (optional)}

Chunks travel on the ``chunk`` topic, raw bytes; a box asks for the ones it
misses with ``{"missing": [i, ...]}`` on ``need``. The box answers the command
with one reply per stage (``STAGES``) and ends with one of ``FINAL_STAGES``,
also published retained on ``update_result``.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from ..errors import CommandError

CHUNK_BYTES = 100_000  # under the 128 KB message limit many brokers and gateways use
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # a box refuses larger offers before fetching a byte
CHUNK_TIMEOUT_S = 120.0  # a chunked transfer that makes no progress this long is given up
NEED_INTERVAL_S = 2.0  # how often a box may ask again for missing chunks (twice this, in practice)
STAGES = ("downloading", "installing", "smoke-testing")  # progress replies, in order
FINAL_STAGES = ("installed", "refused", "rolled back")


def downgrade_statement(manifest_bytes: bytes) -> bytes:
    """What a fleet manager signs to allow installing an older version."""
    return b"edge-agent downgrade:" + hashlib.sha256(manifest_bytes).hexdigest().encode()


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


def offer_args(manifest: bytes, signature: bytes, archive_sha256: str, archive_size: int,
               transfer: dict[str, Any], downgrade_signature: bytes | None = None) -> dict[str, Any]:
    """The ``update`` command's args, as ``Offer.parse`` reads them."""
    args: dict[str, Any] = {"manifest": base64.b64encode(manifest).decode(),
                            "signature": base64.b64encode(signature).decode(),
                            "archive_sha256": archive_sha256, "archive_size": archive_size, "transfer": transfer}
    if downgrade_signature is not None:
        args["downgrade_signature"] = base64.b64encode(downgrade_signature).decode()
    return args


def need_message(missing: list[int]) -> dict[str, Any]:
    """What a box publishes on ``need``."""
    return {"missing": missing}


def missing_of(need: dict[str, Any]) -> list[int]:
    """The chunk indices a ``need`` message asks for (the sender checks the range)."""
    return list(need.get("missing", []))


@dataclass(frozen=True)
class Offer:
    """An offer as a box received it, checked for shape (not yet for trust)."""

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
        """Decode the command's args; refuses a malformed offer or one over the limits."""
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
