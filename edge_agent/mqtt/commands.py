"""Remote commands: the payload schema, expiry, de-duplication and dispatch.

A command is published on ``<prefix>/<device>/cmd/<name>`` or, for the whole
fleet, ``<prefix>/fleet/cmd/<name>``, with a JSON payload::

    {"id": "a unique id", "issued_at": <unix time>, "expires_at": <unix time, optional>, "args": {...}}

A command past ``expires_at``, or older than the configured maximum age, is
refused (a box coming back online must not act on stale orders). A repeated
``id`` (QoS 1 may deliver twice) is answered again without acting twice.
Home Assistant's switch sends plain ``ON``/``OFF`` to ``cmd/enhance``; that
one raw form is accepted. Every command gets a reply, errors included.

The router knows no command: the agent registers its handlers by name
(agent/commands.py), so this module is the same for any set of commands.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CommandError, UserError

Handler = Callable[[dict[str, Any]], dict[str, Any]]
RAW_SWITCH = {b"ON": True, b"OFF": False, b"on": True, b"off": False}


@dataclass
class Command:
    """A parsed command: ``id`` is None only for Home Assistant's raw ON/OFF."""

    name: str
    id: str | None
    args: dict[str, Any]


@dataclass
class CommandRouter:
    """Parses, checks and dispatches commands to handlers registered by name,
    remembering the last ``max_seen`` replies by id (QoS 1 redelivers)."""

    handlers: dict[str, Handler]
    max_age_s: float
    seen: "OrderedDict[str, dict]" = field(default_factory=OrderedDict)
    max_seen: int = 512

    def parse(self, name: str, payload: bytes, now: float | None = None) -> Command:
        """The command in ``payload``; refuses malformed, stale or expired ones."""
        now = time.time() if now is None else now
        if name == "enhance" and payload.strip() in RAW_SWITCH:
            return Command(name, None, {"enabled": RAW_SWITCH[payload.strip()]})
        try:
            body = json.loads(payload or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CommandError("payload is not JSON; allowed: {\"id\", \"issued_at\", \"expires_at\"?, \"args\"?}") from None
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        cid, issued = body.get("id"), body.get("issued_at")
        if not isinstance(cid, str) or not cid:
            raise CommandError("command needs a non-empty string 'id'")
        if not isinstance(issued, (int, float)) or isinstance(issued, bool):
            raise CommandError("command needs 'issued_at' (unix time)")
        expires = body.get("expires_at")
        if expires is not None and (not isinstance(expires, (int, float)) or now > expires):
            raise CommandError(f"command {cid} expired at {expires}")
        if now - issued > self.max_age_s:
            raise CommandError(f"command {cid} is stale: issued {now - issued:.0f} s ago, limit {self.max_age_s:.0f} s")
        args = body.get("args", {})
        if not isinstance(args, dict):
            raise CommandError("'args' must be a JSON object")
        return Command(name, cid, args)

    def handle(self, name: str, payload: bytes) -> dict[str, Any]:
        """Run one command and return its reply (never raises for bad input)."""
        try:
            command = self.parse(name, payload)
            if command.id is not None and command.id in self.seen:
                return {**self.seen[command.id], "duplicate": True}
            if name not in self.handlers:
                raise CommandError(f"unknown command '{name}'; allowed: {', '.join(sorted(self.handlers))}")
            reply = {"id": command.id, "command": name, "ok": True, "result": self.handlers[name](command.args)}
        except UserError as exc:
            reply = {"id": command_id(payload), "command": name, "ok": False, "error": str(exc)}
            return reply
        if command.id is not None:
            self.seen[command.id] = reply
            while len(self.seen) > self.max_seen:
                self.seen.popitem(last=False)
        return reply


def command_payload(cid: str, args: dict[str, Any], expires_at: float | None = None,
                    issued_at: float | None = None) -> dict[str, Any]:
    """A command as a sender (the fleet manager) publishes it; ``parse`` reads it."""
    body: dict[str, Any] = {"id": cid, "issued_at": time.time() if issued_at is None else issued_at}
    if expires_at is not None:
        body["expires_at"] = expires_at
    body["args"] = args
    return body


def command_id(payload: bytes) -> str | None:
    """The ``id`` of a command payload, if it has a usable one (for replying to
    a command that could not be parsed, or to a long-running one later)."""
    try:
        body = json.loads(payload)
        return body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
