"""`edge-agent run --config agent.yaml`: the on-camera service."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add `run` (the on-camera service) to the command tree."""
    p = sub.add_parser("run", help="run the on-camera agent (camera -> enhancement -> MQTT)")
    p.add_argument("--config", type=Path, required=True, help="agent YAML config (see `edge-agent config describe`)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (testing)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the agent; the agent module is imported only here, so other commands start fast."""
    from ..agent.loop import run_agent

    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    return run_agent(args.config, args.max_frames)
