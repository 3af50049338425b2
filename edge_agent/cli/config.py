"""`edge-agent config validate [--no-files] FILE` and `edge-agent config describe [--json]`.

``validate`` reports every problem of the file at once, one line each with
its key path, and exits 2; ``--no-files`` skips the existence checks of the
files it references (TLS certificates, keys), so a config written for a box
can be checked anywhere. ``describe`` reads the pydantic models themselves
(config.py): every key with its type, its default, its allowed range or
choices and its help text; ``--json`` gives the same key map together with
the config's JSON Schema."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import AgentConfig, load_config
from ..schema import describe_keys


def register(sub: argparse._SubParsersAction) -> None:
    """Add `config validate|describe` to the command tree."""
    p = sub.add_parser("config", help="check or describe the agent's config")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    v = verbs.add_parser("validate", help="check a config file without starting the agent (every problem at once)")
    v.add_argument("file", type=Path)
    v.add_argument("--no-files", action="store_true",
                   help="do not check that referenced files (TLS certificates, keys) exist on this machine")
    v.set_defaults(run=_validate)
    d = verbs.add_parser("describe", help="every key with its type, default, allowed range and what it means")
    d.add_argument("--json", action="store_true",
                   help='print one JSON object: {"keys": key -> type, default, range, allowed, help; '
                        '"schema": the JSON Schema}')
    d.set_defaults(run=_describe)


def _validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.file, files=not args.no_files)
    mqtt = f"mqtt {cfg.mqtt.host}:{cfg.mqtt.port}" if cfg.mqtt else "no mqtt"
    skipped = "; referenced files not checked" if args.no_files else ""
    print(f"ok: {args.file} (camera {cfg.camera.source}, {mqtt}{skipped})")
    return 0


def _line(key: str, e: dict[str, Any]) -> str:
    """``mqtt.port  (int, 1-65535; default 1883)`` and its help on the next line."""
    if e["type"] == "section":
        return f"{key}:  {e['help']}"
    notes = [e["range"]] if "range" in e else []
    notes += [f"allowed: {e['allowed']}"] if "allowed" in e else []
    kind = ", ".join([e["type"], *notes])
    default = "required" if "default" not in e else f"default {json.dumps(e['default'], default=str)}"
    return f"{key}  ({kind}; {default})\n    {e['help']}"


def _describe(args: argparse.Namespace) -> int:
    keys = describe_keys(AgentConfig)
    if args.json:
        print(json.dumps({"keys": keys, "schema": AgentConfig.model_json_schema()}, indent=1, default=str))
        return 0
    for key, e in keys.items():
        print(_line(key, e))
    return 0
