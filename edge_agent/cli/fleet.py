"""`edge-agent fleet push|status|command`: model updates and remote commands for fleet managers."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..config import NODE_ID, NODE_ID_TEXT
from ..errors import UserError
from ..mqtt.commands import CommandAuth
from ..updates.fleet import Broker, CommandResult, push, send_command, status

ARG_HELP = "VALUE is read as JSON when it parses (3, true, \"text\"), else as text"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `fleet push|status|command` to the command tree."""
    p = sub.add_parser("fleet", help="push signed model updates to boxes, send them commands and see their state")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    for name, fn, text in (("push", _push, "offer a signed bundle to one box or the whole fleet"),
                           ("status", _status, "each box's model and last update result"),
                           ("command", _command, "send a remote command (signed with --key) and print the replies")):
        v = verbs.add_parser(name, help=text)
        v.add_argument("--host", required=True, help="MQTT broker")
        v.add_argument("--port", type=int, default=1883)
        v.add_argument("--prefix", default="cctv")
        v.add_argument("--username", default=None)
        v.add_argument("--password-env", default=None, help="environment variable holding the password")
        v.add_argument("--ca-file", default=None)
        v.set_defaults(run=fn)
        if name == "push":
            v.add_argument("bundle", type=Path, help="signed bundle folder")
            target = v.add_mutually_exclusive_group(required=True)
            target.add_argument("--device", help="one box's device id")
            target.add_argument("--fleet", action="store_true", help="every online box under the prefix")
            v.add_argument("--url", default=None, help="deliver by URL (http, https, file) instead of MQTT chunks")
            v.add_argument("--key", type=Path, action="append", default=None,
                           help="update-role private key that signs the offer (repeat for a threshold)")
            v.add_argument("--downgrade-key", type=Path, default=None,
                           help="fleet private key: sign an explicit downgrade to this (older) version")
            v.add_argument("--summary", default=None,
                           help="release notes, signed with the offer (Home Assistant's update entity shows them)")
            v.add_argument("--timeout", type=float, default=300.0)
        elif name == "command":
            _command_options(v)
        else:
            v.add_argument("--json", action="store_true")


def _command_options(v: argparse.ArgumentParser) -> None:
    v.add_argument("name", help="the command: enhance, set_steps, snapshot, reload, restart, health, install_update")
    v.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help=f"one of the command's args (repeat); {ARG_HELP}")
    target = v.add_mutually_exclusive_group(required=True)
    target.add_argument("--device", help="one box's device id")
    target.add_argument("--fleet", action="store_true", help="every box under the prefix")
    target.add_argument("--group", help="the boxes with this group in mqtt.groups")
    v.add_argument("--key", type=Path, default=None, help="commands-role private key (PEM, `edge-agent bundle keygen`) "
                   "that signs the command: needed for every command not in a box's mqtt.open_commands "
                   "when the box has mqtt.command_keys")
    v.add_argument("--expires-in", type=float, default=300.0, metavar="SECONDS",
                   help=f"the command expires this long after it is sent (at most {CommandAuth.max_lifetime_s:.0f})")
    v.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the replies")
    v.add_argument("--json", action="store_true", help="print the replies as JSON")


def _broker(args: argparse.Namespace) -> Broker:
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and password is None:
        raise UserError(f"environment variable {args.password_env} is not set")
    return Broker(args.host, args.port, args.username, password, args.ca_file)


def _push(args: argparse.Namespace) -> int:
    result = push(args.bundle, _broker(args), args.prefix, None if args.fleet else args.device, args.url,
                  args.downgrade_key, args.timeout, keys=args.key, summary=args.summary)
    failed = 0
    for device, replies in sorted(result.replies.items()):
        final = result.final(device) or replies[-1]
        # "staged": verified and kept for an install command (the box's updates.auto_install is false)
        ok = final.get("ok") and final.get("stage") in ("installed", "staged")
        failed += not ok
        print(f"{device}: {final.get('stage', '?')} {final.get('version', '')} {final.get('error', '')}".rstrip())
    if not result.replies:
        raise UserError("no box answered the offer")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    boxes = status(_broker(args), args.prefix)
    if args.json:
        print(json.dumps(boxes, indent=1))
        return 0
    for device, info in sorted(boxes.items()):
        model = info.get("model", {})
        last = info.get("update_result", {})
        print(f"{device:<20} {info.get('status', '?'):<8} model {model.get('version', '?')} "
              f"(code {model.get('version_code', '?')})  last update: {last.get('stage', '-')} {last.get('error', '')}".rstrip())
    return 0


def command_args(pairs: list[str]) -> dict[str, Any]:
    """``--arg KEY=VALUE`` options as the command's args; VALUE as JSON when it parses, else as text."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or key in args:
            problem = f"'{key}' is given twice" if eq and key in args else "must be KEY=VALUE with KEY a name"
            raise UserError(f"--arg {pair!r}: {problem}; e.g. --arg steps=3 --arg enabled=false ({ARG_HELP})")
        try:
            args[key] = json.loads(value, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            args[key] = value
    return args


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity: a box refuses them, so they stay text


def _command(args: argparse.Namespace) -> int:
    for what, value in (("command name", args.name), ("--device", args.device)):  # topic levels
        if value is not None and not re.fullmatch(NODE_ID, value):
            raise UserError(f"{what} {value!r} is not allowed; allowed: {NODE_ID_TEXT}")
    if args.group is not None and not args.group.strip():
        raise UserError("--group needs a group name, as in a box's mqtt.groups")
    if not 0 < args.expires_in <= CommandAuth.max_lifetime_s:
        raise UserError(f"--expires-in {args.expires_in:g} is not allowed; allowed: above 0 and at most "
                        f"{CommandAuth.max_lifetime_s:.0f} s (a box refuses a longer-lived signed command)")
    if not args.timeout > 0:
        raise UserError(f"--timeout {args.timeout:g} is not allowed; allowed: above 0")
    result = send_command(_broker(args), args.prefix, args.name, command_args(args.arg), args.device, args.group,
                          args.key, args.expires_in, args.timeout)
    if args.json:
        print(json.dumps({"id": result.id, "command": args.name, "replies": result.replies,
                          "no_answer": result.silent}, indent=1))
    elif result.replies:
        _print_replies(result, args.timeout)
    if not result.replies:
        where = args.device or (f"group {args.group}" if args.group else f"the fleet under '{args.prefix}'")
        seen = f" (its status: {result.statuses[args.device]})" if args.device in result.statuses else ""
        if result.outside:
            seen = f" ({len(result.outside)} other box(es) answered that they are not in it)"
        print(f"error: no answer from {where} within {args.timeout:g} s{seen}", file=sys.stderr)
        return 1
    return 0 if all(r.get("ok") for r in result.replies.values()) and not result.silent else 1


def _print_replies(result: CommandResult, timeout: float) -> None:
    for device, reply in sorted(result.replies.items()):
        if reply.get("ok"):
            again = " (a duplicate: the box had run this id already)" if reply.get("duplicate") else ""
            print(f"{device}: ok {json.dumps(reply.get('result'))}{again}")
        else:
            print(f"{device}: error: {reply.get('error', 'no reason given')}")
    for device in result.silent:
        print(f"{device}: no answer within {timeout:g} s")
