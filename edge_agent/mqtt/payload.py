"""Untrusted MQTT payloads read as JSON within bounds: size and nesting depth
checked before parsing, integers of at most ``MAX_INT_DIGITS`` digits, no
``NaN``/``Infinity``; every problem is a ``CommandError`` (never
RecursionError, OverflowError...). Commands (commands.py) are read with it.
"""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from ..errors import CommandError

MAX_PAYLOAD_BYTES = 256 * 1024  # an update offer carries a base64 manifest; nothing else comes close
MAX_DEPTH = 12
MAX_INT_DIGITS = 19
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise CommandError(f"a number in the payload has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CommandError("a number in the payload is not finite")
    return value


def _constant(text: str) -> Any:
    raise CommandError(f"'{text}' is not allowed in a payload (numbers must be finite)")


def bounded_json(payload: bytes) -> Any:
    """``payload`` parsed as JSON within the size, depth and number limits;
    every problem is a CommandError (never RecursionError, OverflowError...)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"payload of {len(payload)} bytes is over the limit of {MAX_PAYLOAD_BYTES}")
    brackets = _STRINGS.sub(b"", payload).translate(None, _NOT_BRACKETS)
    if max(accumulate(1 if c in b"[{" else -1 for c in brackets), default=0) > MAX_DEPTH:
        raise CommandError(f"payload is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(payload, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
        raise CommandError("payload is not JSON; allowed: {\"id\", \"issued_at\", \"expires_at\"?, \"args\"?}") from None
