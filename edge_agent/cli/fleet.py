"""`edge-agent fleet push|status`: model updates for fleet managers."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..errors import UserError
from ..updates.fleet import Broker, push, status


def register(sub: argparse._SubParsersAction) -> None:
    """Add `fleet push|status` to the command tree."""
    p = sub.add_parser("fleet", help="push signed model updates to boxes and see their state")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    for name, fn, text in (("push", _push, "offer a signed bundle to one box or the whole fleet"),
                           ("status", _status, "each box's model and last update result")):
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
        else:
            v.add_argument("--json", action="store_true")


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
