"""User-facing errors: one line naming the thing and what is allowed.

The CLI prints ``error: <message>`` and exits non-zero for these, without a
traceback; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, option, model); the message is shown as is."""

    exit_code = 2


class BundleError(UserError):
    """A model bundle that is missing, malformed or does not verify."""

    exit_code = 3


class ConfigError(UserError):
    """A config value that is not allowed; the message names its key path."""


class CommandError(UserError):
    """A remote command (MQTT) that is refused; the message goes back in the
    reply. Defined here, not beside the router, because the update code that
    refuses offers must not depend on the MQTT layer."""


def choice_error(what: str, value: object, allowed: list[str] | tuple[str, ...]) -> UserError:
    """The one wording of "not supported; allowed: ...", so every refusal reads alike."""
    return UserError(f"{what} {value!r} is not supported; allowed: {', '.join(map(str, allowed))}")
