"""`edge-agent`: one console script, one sub-command per file under commands/."""
from __future__ import annotations

import argparse
import sys

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from .commands import bench, bundle, config_cmd, doctor, enhance, fleet, run

    parser = _Parser(prog="edge-agent", description="Night-time CCTV enhancement on the edge box.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (enhance, bench, doctor, bundle, fleet, run, config_cmd):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; outputs already completed are kept, the one in progress was discarded\n")
        return 130
