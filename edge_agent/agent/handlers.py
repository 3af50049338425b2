"""The agent's remote commands: one small function each, registered by name.

A handler takes the agent and the command's ``args`` and returns the reply's
``result``; raising ``CommandError`` refuses the command with its message.
Handlers run on the loop thread between two frames (mqtt/commands.py parses,
checks and dispatches; the agent binds this registry to its router), so they
change the agent's state without locks. A new command is a new function
here with ``@command("name")``.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ..config import load_config
from ..errors import CommandError

if TYPE_CHECKING:
    from .loop import Agent

Handler = Callable[["Agent", dict[str, Any]], dict[str, Any]]
COMMANDS: dict[str, Handler] = {}
EXIT_RESTART = 75  # EX_TEMPFAIL: systemd's Restart=on-failure brings the agent back


def command(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of command ``name``."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = handler
        return handler

    return register


def bind(agent: "Agent") -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The registry with ``agent`` filled in, as the router takes it."""
    return {name: functools.partial(handler, agent) for name, handler in COMMANDS.items()}


@command("enhance")
def enhance(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Turn enhancement on or off (the raw camera is shown when off)."""
    enabled = args.get("enabled")
    if not isinstance(enabled, bool):
        raise CommandError("enhance needs args.enabled true or false")
    agent.enhance_enabled = enabled
    agent.stream.reset()  # re-enabling must not blend in a frame from before
    agent.publisher.enhance_state(enabled)
    return {"enabled": enabled}


@command("set_steps")
def set_steps(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """Trade quality for speed at run time, among the bundle's step counts."""
    steps = args.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise CommandError(f"set_steps needs args.steps, one of {agent.bundle.sampler.steps}")
    agent.enhancer.set_steps(steps)
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


@command("update")
def update(agent: "Agent", args: dict[str, Any]) -> dict[str, Any]:
    """A signed model offer: checked now, installed off the loop (updates/controller.py)."""
    return agent.updates.offer(args)
