"""`edge-agent run --config agent.yaml`: the on-camera service."""
from __future__ import annotations

import argparse
from pathlib import Path

from .logs import LEVELS, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    """Add `run` (the on-camera service) to the command tree."""
    p = sub.add_parser("run", help="run the on-camera agent (camera -> enhancement -> MQTT)")
    p.add_argument("--config", type=Path, required=True, help="agent YAML config (see `edge-agent config describe`)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (testing)")
    p.add_argument("--log-level", dest="run_log_level", default=None, choices=LEVELS,
                   help="same as edge-agent --log-level (default INFO for the agent)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the agent; the agent module is imported only here, so other commands start fast."""
    from ..agent.loop import run_agent

    setup_logging(args.run_log_level or args.log_level or "INFO")
    return run_agent(args.config, args.max_frames)
