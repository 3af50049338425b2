"""Remote commands: the envelope, its limits, authorisation, de-duplication
and dispatch.

A command is published on ``<prefix>/<device>/cmd/<name>`` or, for the whole
fleet, ``<prefix>/fleet/cmd/<name>``, with a JSON payload::

    {"id": "a unique id", "issued_at": <unix time>, "expires_at": <unix time, optional>,
     "target": "<device|group|fleet>", "args": {...}, "auth": {"key_id": ..., "signature": <base64>}}

Before anything is parsed the payload's size and nesting depth are bounded
(payload.py: ``MAX_PAYLOAD_BYTES``, ``MAX_DEPTH``); integers longer than
``MAX_INT_DIGITS``, ``NaN`` and ``Infinity`` are refused by the JSON reader
itself. Timestamps must be finite, not older than the configured maximum age
and not further in the future than the clock skew. A command id is
remembered (on disk when a path is given, so a retained or replayed command
runs once, also across a restart); retained commands are refused outright.

State-changing commands need an Ed25519 signature by a key of the
*commands* role (``command_signature`` signs, ``CommandAuth`` checks) over
the name, id, times, target and args, bound to this box or one of its
groups, with an expiry; read-only ones (``CommandAuth.open``) may stay open.
Home Assistant's raw ``ON``/``OFF`` on ``cmd/enhance`` and its update entity's
``install`` are accepted only when the command is open (``RAW_PAYLOADS``). Every command gets a reply, errors included: ``handle``
never raises. A command aimed at another box or group is refused with
``"code": NOT_TARGETED`` in its reply beside the message, for fleet managers.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import CommandError, UserError
from ..fsutil import atomic_write_bytes
from .payload import MAX_DEPTH, MAX_INT_DIGITS, MAX_PAYLOAD_BYTES, bounded_json  # noqa: F401 (re-exported)
from .topics import INSTALL_COMMAND

log = logging.getLogger("edge_agent.commands")
Handler = Callable[[dict[str, Any]], dict[str, Any]]
RAW_SWITCH = {b"ON": True, b"OFF": False, b"on": True, b"off": False}
PAYLOAD_INSTALL = "install"  # Home Assistant's update entity's payload_install (a fixed string, no template)
# Home Assistant's plain payloads (no envelope) -> the args they stand for, per command; accepted only
# where the command is open (no mqtt.command_keys, or the command in mqtt.open_commands)
RAW_PAYLOADS: dict[str, dict[bytes, dict[str, Any]]] = {
    "enhance": {raw: {"enabled": on} for raw, on in RAW_SWITCH.items()},
    INSTALL_COMMAND: {PAYLOAD_INSTALL.encode(): {}},
}
MAX_ID_CHARS = 128
MAX_ABS_TIME = 1e11  # year 5138: any finite timestamp a clock can hold, nothing that overflows
# a reply's "code" when the command's target is neither this box nor one of its groups: a fleet manager
# tells "not in that group" from a refusal by this, not by the message, which may be reworded
NOT_TARGETED = "not_targeted"


class NotTargeted(CommandError):
    """A command aimed at another box or group; its reply carries ``code``."""

    code = NOT_TARGETED

    def __init__(self, target: Any, targets: set[str]) -> None:
        super().__init__(f"command target {target!r} is not this box; allowed: {sorted(targets)}")


def _time(body: dict[str, Any], key: str, required: bool) -> float | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not abs(value) < MAX_ABS_TIME:
        raise CommandError(f"command needs '{key}' as a finite unix time")
    return float(value)


@dataclass
class Command:
    """A parsed command: ``id`` is None only for Home Assistant's raw ON/OFF."""

    name: str
    id: str | None
    args: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


def signed_bytes(name: str, body: dict[str, Any]) -> bytes:
    """What a command signature covers: name, id, times, target and args, canonical JSON."""
    fields = {k: body.get(k) for k in ("id", "issued_at", "expires_at", "target", "args")}
    return json.dumps({"command": name, **fields}, sort_keys=True, separators=(",", ":")).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex digits of sha256 of the raw public key (the same ids as bundle signatures)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def command_signature(name: str, body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, str]:
    """The ``auth`` field a fleet manager adds with a key of the commands role."""
    return {"key_id": key_id(key.public_key()), "signature": base64.b64encode(key.sign(signed_bytes(name, body))).decode()}


@dataclass
class CommandAuth:
    """Who may change this box's state: keys of the commands role, the targets
    this box answers to (its id, its groups, ``fleet``) and the open commands."""

    keys: list[Ed25519PublicKey]
    targets: set[str]
    open: set[str]
    max_lifetime_s: float = 3600.0

    def check(self, name: str, body: dict[str, Any]) -> None:
        """Refuse an unsigned, mis-signed, untargeted or unbounded state-changing command."""
        if name in self.open:
            return
        auth = body.get("auth")
        if not self.keys:
            raise CommandError(f"command '{name}' needs a signature, and this box trusts no command key")
        if not isinstance(auth, dict) or not isinstance(auth.get("signature"), str):
            raise CommandError(f"command '{name}' changes state and needs 'auth' signed by a fleet command key")
        if body.get("target") not in self.targets:
            raise NotTargeted(body.get("target"), self.targets)
        expires, issued = body.get("expires_at"), body["issued_at"]
        if expires is None or expires - issued > self.max_lifetime_s:
            raise CommandError(f"a signed command needs expires_at within {self.max_lifetime_s:.0f} s of issued_at")
        try:
            signature = base64.b64decode(auth["signature"], validate=True)
        except ValueError:
            raise CommandError("command signature is not base64") from None
        message = signed_bytes(name, body)
        for public in self.keys:
            if key_id(public) == auth.get("key_id"):
                try:
                    public.verify(signature, message)
                    return
                except Exception:  # InvalidSignature
                    break
        raise CommandError(f"command signature does not verify under a trusted command key ({auth.get('key_id')!r})")


def load_command_keys(paths: list[str]) -> list[Ed25519PublicKey]:
    """The commands role's public keys (PEM files) from the config."""
    keys = []
    for p in paths:
        try:
            key = serialization.load_pem_public_key(Path(p).read_bytes())
        except (OSError, ValueError) as exc:
            raise UserError(f"command key {p} cannot be read ({exc.__class__.__name__})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise UserError(f"command key {p} is not an Ed25519 public key")
        keys.append(key)
    return keys


@dataclass
class CommandRouter:
    """Parses, checks and dispatches commands to handlers registered by name,
    remembering the last ``max_seen`` replies by id (QoS 1 redelivers; a
    retained or replayed command must not act twice)."""

    handlers: dict[str, Handler]
    max_age_s: float
    clock_skew_s: float = 300.0
    auth: CommandAuth | None = None
    targets: set[str] | None = None  # this box's id, groups and ``fleet``: a command aimed elsewhere is refused
    seen_path: Path | None = None
    seen: "OrderedDict[str, dict]" = field(default_factory=OrderedDict)
    max_seen: int = 512

    def __post_init__(self) -> None:
        self._load_seen()
    def parse(self, name: str, payload: bytes, now: float | None = None) -> Command:
        """The command in ``payload``; refuses malformed, stale, future, expired or unauthorised ones."""
        now = time.time() if now is None else now
        raw = RAW_PAYLOADS.get(name, {}).get(payload.strip())
        if raw is not None:
            if self.auth is not None and name not in self.auth.open:
                raise CommandError(f"command '{name}' changes state and needs 'auth' signed by a fleet command key; "
                                   f"Home Assistant's plain payload is accepted only with '{name}' in mqtt.open_commands")
            return Command(name, None, dict(raw))
        body = bounded_json(payload or b"{}")
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        cid = body.get("id")
        if not isinstance(cid, str) or not 0 < len(cid) <= MAX_ID_CHARS:
            raise CommandError(f"command needs a string 'id' of 1..{MAX_ID_CHARS} characters")
        issued, expires = _time(body, "issued_at", True), _time(body, "expires_at", False)
        if expires is not None and now > expires:
            raise CommandError(f"command {cid} expired at {expires:.0f}")
        if now - issued > self.max_age_s:
            raise CommandError(f"command {cid} is stale: issued {now - issued:.0f} s ago, limit {self.max_age_s:.0f} s")
        if issued - now > self.clock_skew_s:
            raise CommandError(f"command {cid} is issued {issued - now:.0f} s in the future; clock skew limit "
                               f"{self.clock_skew_s:.0f} s")
        args = body.get("args", {})
        if not isinstance(args, dict):
            raise CommandError("'args' must be a JSON object")
        target = body.get("target")  # checked signed or not: a group command must not reach the rest of the fleet
        if target is not None and self.targets is not None and target not in self.targets:
            raise NotTargeted(target, self.targets)
        if self.auth is not None:
            self.auth.check(name, body)
        return Command(name, cid, args, body)

    def handle(self, name: str, payload: bytes, retained: bool = False) -> dict[str, Any]:
        """Run one command and return its reply. Never raises: a handler's
        failure, whatever it is, becomes an error reply."""
        command: Command | None = None
        try:
            if retained:
                raise CommandError("retained commands are refused (a command must not run again on every connect)")
            command = self.parse(name, payload)
            if command.id is not None and command.id in self.seen:
                return {**self.seen[command.id], "duplicate": True}
            if name not in self.handlers:
                raise CommandError(f"unknown command '{name}'; allowed: {', '.join(sorted(self.handlers))}")
            self._remember(command.id, {"id": command.id, "command": name, "ok": False, "error": "interrupted"})
            reply = {"id": command.id, "command": name, "ok": True, "result": self.handlers[name](command.args)}
        except UserError as exc:
            reply = {"id": command.id if command else command_id(payload), "command": name, "ok": False,
                     "error": str(exc), **({"code": exc.code} if isinstance(exc, NotTargeted) else {})}
        except Exception as exc:  # a handler's bug must not stop the agent
            log.exception("command %s failed", name)
            reply = {"id": command.id if command else command_id(payload), "command": name, "ok": False,
                     "error": f"internal error: {exc.__class__.__name__}"}
        if command is not None and command.id is not None:
            self._remember(command.id, reply)
        return reply

    def _remember(self, cid: str | None, reply: dict[str, Any]) -> None:
        if cid is None:
            return
        self.seen[cid] = reply
        while len(self.seen) > self.max_seen:
            self.seen.popitem(last=False)
        if self.seen_path is not None:  # before acting: a restart command must not run again after the restart
            try:
                data = {k: {"t": time.time(), "reply": {**v, "result": "see the first reply"} if "result" in v else v}
                        for k, v in self.seen.items()}  # without results: a health report can be large
                atomic_write_bytes(self.seen_path, json.dumps(data).encode(), durable=False)  # survives a restart
            except (OSError, TypeError, ValueError) as exc:
                log.warning("cannot remember command ids: %s", exc)

    def _load_seen(self) -> None:
        if self.seen_path is None or not self.seen_path.is_file():
            return
        try:
            data = json.loads(self.seen_path.read_bytes())
            horizon = time.time() - self.max_age_s - self.clock_skew_s
            for cid, entry in list(data.items())[-self.max_seen:]:
                if isinstance(entry, dict) and float(entry.get("t", 0)) >= horizon:
                    self.seen[str(cid)] = dict(entry.get("reply") or {"id": cid})
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("remembered command ids unreadable (%s); starting afresh", exc)


def command_payload(cid: str, args: dict[str, Any], expires_at: float | None = None, issued_at: float | None = None,
                    name: str | None = None, target: str | None = None,
                    key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """A command as a sender (the fleet manager) publishes it; ``parse`` reads
    it. With ``key`` (the commands role) it is signed for ``name`` and ``target``."""
    body: dict[str, Any] = {"id": cid, "issued_at": time.time() if issued_at is None else issued_at}
    if expires_at is not None:
        body["expires_at"] = expires_at
    if target is not None:
        body["target"] = target
    body["args"] = args
    if key is not None:
        if name is None:
            raise ValueError("a signed command needs its name")
        body["auth"] = command_signature(name, body, key)
    return body


def command_id(payload: bytes) -> str | None:
    """The ``id`` of a command payload, if it has a usable one (for replying to
    a command that could not be parsed, or to a long-running one later)."""
    try:
        body = bounded_json(payload)
    except CommandError:
        return None
    cid = body.get("id") if isinstance(body, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= MAX_ID_CHARS else None
