"""`edge-agent` (and `python -m edge_agent`): one console script, one
sub-command per file in this folder, each with a ``register(sub)`` that adds
its parser and sets ``run``.

Errors the user can fix (``UserError``) become one ``error:`` line and an
exit code; anything else is a bug and keeps its traceback. Exit codes: 0 done,
1 some files of a folder failed, 2 bad input or option, 3 the model does not
verify, 4 a truncated video (the frames that decoded were written), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). An interrupted or terminated
command leaves no partial output and no temporary folder. Nothing outside
this folder imports it (see ARCHITECTURE.md): the rest of the package is
usable without argparse.
"""
from __future__ import annotations

import argparse
import signal
import sys

from .. import __version__
from ..errors import UserError
from .logs import LEVELS, setup_logging


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` (temporary
    files, folders) runs, as it does for Ctrl-C."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


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
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("--log-level", choices=LEVELS, default=None, type=str.upper,
                        help="log lines on stderr at this level and above (default: INFO for `run`, WARNING "
                             "otherwise); timestamped, except under systemd, whose journal adds them")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (enhance, bench, doctor, bundle, fleet, run, config):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point; returns the exit code."""
    from .options import cleanup

    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "WARNING")
    previous = _install_sigterm()
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; outputs already completed are kept, the one in progress was discarded\n")
        return 130
    except BrokenPipeError:  # `edge-agent config describe | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except Terminated:
        sys.stderr.write("error: terminated; outputs already completed are kept, the one in progress was discarded\n")
        return 143
    finally:
        cleanup()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _install_sigterm() -> object:
    """SIGTERM ends the command like Ctrl-C (cleanly); the previous handler is
    returned (None off the main thread, where signals cannot be set). The
    agent (`run`) installs its own, gentler handler on top."""
    try:
        return signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        return None
