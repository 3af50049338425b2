"""`edge-agent config validate FILE` and `edge-agent config describe`.

``describe`` reads the config tree itself (config.py's dataclasses): every
key with its type, its default and its help text (which states the allowed
range where there is one); ``--json`` gives the same as one object."""
from __future__ import annotations

import argparse
import json
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from ..config import AgentConfig, load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add `config validate|describe` to the command tree."""
    p = sub.add_parser("config", help="check or describe the agent's config")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    v = verbs.add_parser("validate", help="check a config file without starting the agent")
    v.add_argument("file", type=Path)
    v.set_defaults(run=_validate)
    d = verbs.add_parser("describe", help="every key with its type, default and what it means")
    d.add_argument("--json", action="store_true", help="print one JSON object: key -> type, default, help")
    d.set_defaults(run=_describe)


def _validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)
    mqtt = f"mqtt {cfg.mqtt.host}:{cfg.mqtt.port}" if cfg.mqtt else "no mqtt"
    print(f"ok: {args.file} (camera {cfg.camera.source}, {mqtt})")
    return 0


def type_name(tp: Any) -> str:
    """An annotation as a user reads it: ``int``, ``one of: a, b``, ``list of str``, ``str or null``."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        return " or ".join(type_name(a) for a in options) + (" or null" if type(None) in get_args(tp) else "")
    if origin is Literal:
        return "one of: " + ", ".join(map(str, get_args(tp)))
    if origin is list:
        return f"list of {type_name(get_args(tp)[0])}"
    if hasattr(tp, "__dataclass_fields__"):
        return "section"
    return getattr(tp, "__name__", str(tp))


def describe_keys(cls: type = AgentConfig, path: str = "") -> dict[str, dict[str, Any]]:
    """key path -> {type, default (absent when required), help}, sections included."""
    out: dict[str, dict[str, Any]] = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        tp = hints[f.name]
        entry: dict[str, Any] = {"type": type_name(tp), "help": f.metadata.get("help", "")}
        section = [a for a in (tp, *get_args(tp)) if hasattr(a, "__dataclass_fields__")]
        if f.default is not MISSING:
            entry["default"] = f.default if not section else None
        elif f.default_factory is not MISSING:
            entry["default"] = None if section else f.default_factory()
        out[key] = entry
        if section:
            out.update(describe_keys(section[0], key))
    return out


def _describe(args: argparse.Namespace) -> int:
    keys = describe_keys()
    if args.json:
        print(json.dumps(keys, indent=1, default=str))
        return 0
    for key, e in keys.items():
        default = "required" if "default" not in e else f"default {json.dumps(e['default'], default=str)}"
        print(f"{key}  ({e['type']}; {default})\n    {e['help']}" if e["type"] != "section" else f"{key}:  {e['help']}")
    return 0
