"""The agent's remote commands: one small function each, registered by name.

A handler takes the agent and the command's ``args`` and returns the reply's
``result``; raising ``CommandError`` refuses the command with its message.
Handlers run on the loop thread between two frames (mqtt/commands.py parses,
checks and dispatches; the agent binds this registry to its router), so they
change the agent's state without locks. A new command is a new function
here with ``@command("name", Args)``: ``Args`` is its pydantic schema
(strict types, bounded numbers, no unknown keys), checked before the handler
runs, so a handler only ever sees well-formed arguments.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import load_config
from ..errors import CommandError

if TYPE_CHECKING:
    from .loop import Agent

Handler = Callable[["Agent", dict[str, Any]], dict[str, Any]]
COMMANDS: dict[str, Handler] = {}
EXIT_RESTART = 75  # EX_TEMPFAIL: systemd's Restart=on-failure brings the agent back


class NoArgs(BaseModel):
    """A command without arguments: any key is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class EnhanceArgs(NoArgs):
    """``enhance``: on or off."""

    enabled: bool


class StepsArgs(NoArgs):
    """``set_steps``: a step count (the bundle says which ones it has)."""

    steps: int = Field(ge=1, le=1000)


def validated(name: str, schema: type[BaseModel], args: Any) -> None:
    """Refuse ``args`` that do not match the command's schema, in one line."""
    if not isinstance(args, dict):
        raise CommandError(f"{name}: args must be an object")
    try:
        schema.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "args"
        raise CommandError(f"{name}: args.{where}: {first.get('msg', 'invalid')}; {exc.error_count()} problem(s)") from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise CommandError(f"{name}: args are invalid ({exc.__class__.__name__})") from None


def command(name: str, schema: type[BaseModel] | None = NoArgs) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of command ``name``;
    its args are checked against ``schema`` first (None: the handler checks)."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
            if schema is not None:
                validated(name, schema, args)
            return handler(agent, args)

        COMMANDS[name] = checked
        return checked

    return register


def bind(agent: "Agent") -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The registry with ``agent`` filled in, as the router takes it."""
    return {name: functools.partial(handler, agent) for name, handler in COMMANDS.items()}


@command("enhance", EnhanceArgs)
def enhance(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Turn enhancement on or off (the raw camera is shown when off)."""
    enabled = args["enabled"]
    agent.enhance_enabled = enabled
    agent.stream.reset()  # re-enabling must not blend in a frame from before
    agent.publisher.enhance_state(enabled)
    return {"enabled": enabled}


@command("set_steps", StepsArgs)
def set_steps(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Trade quality for speed at run time, among the bundle's step counts."""
    steps = args["steps"]
    agent.enhancer.set_steps(steps)  # refuses a count the bundle does not have, naming it and the allowed ones
    agent.stream.reset()  # another sampler: its outputs do not continue the old ones
    return {"steps": steps}


@command("snapshot")
def snapshot(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Publish a JPEG of the next enhanced frame."""
    agent.publisher.snapshot_requested = True
    return {"snapshot": "on the next frame"}


@command("reload")
def reload(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Restart with the config file read afresh, but only if it is valid."""
    if agent.config_path is None:
        raise CommandError("no config file to reload")
    load_config(agent.config_path)  # a bad file is refused here and the agent keeps running
    agent.exit_code = EXIT_RESTART
    return {"reload": "config valid; restarting with it"}


@command("restart")
def restart(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Restart the agent (in-process, or by systemd under a unit)."""
    agent.exit_code = EXIT_RESTART
    return {"restart": "restarting"}


@command("health")
def health(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """The health report, in the reply."""
    return agent.health()


@command("update", None)
def update(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """A signed model offer: checked now, installed off the loop (updates/controller.py)."""
    return agent.updates.offer(args)


@command("install_update")
def install_update(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Install the staged update (``updates.auto_install: false``; Home
    Assistant's update entity's Install, on ``update/set``); refused when none is staged."""
    return agent.updates.install()
