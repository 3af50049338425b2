"""`edge-agent` (and `python -m edge_agent`): one console script, one
sub-command per file in this folder, each with a ``register(sub)`` that adds
its parser and sets ``run``.

Errors the user can fix (``UserError``) become one ``error:`` line and an
exit code; anything else is a bug and keeps its traceback. Nothing outside
this folder imports it (see ARCHITECTURE.md): the rest of the package is
usable without argparse.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error."""

    def error(self, message: str) -> None:  # one line, no usage dump
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; sub-commands are imported here, not at import
    time, so `import edge_agent.cli` stays cheap."""
    from . import bench, bundle, config, doctor, enhance, fleet, run

    parser = _Parser(prog="edge-agent", description="Night-time CCTV enhancement on the edge box.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (enhance, bench, doctor, bundle, fleet, run, config):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; outputs already completed are kept, the one in progress was discarded\n")
        return 130
