"""`edge-agent config validate FILE` and `edge-agent config describe`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import describe_config, load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add `config validate|describe` to the command tree."""
    p = sub.add_parser("config", help="check or describe the agent's config")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    v = verbs.add_parser("validate", help="check a config file without starting the agent")
    v.add_argument("file", type=Path)
    v.set_defaults(run=_validate)
    d = verbs.add_parser("describe", help="every key with what it means")
    d.set_defaults(run=_describe)


def _validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)
    mqtt = f"mqtt {cfg.mqtt.host}:{cfg.mqtt.port}" if cfg.mqtt else "no mqtt"
    print(f"ok: {args.file} (camera {cfg.camera.source}, {mqtt})")
    return 0


def _describe(args: argparse.Namespace) -> int:
    print("\n".join(describe_config()))
    return 0
