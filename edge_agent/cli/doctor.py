"""`edge-agent doctor`: what this box can run, and whether its model verifies."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..paths import default_model_path
from ..runtime.backends import BACKEND_NAMES, get_backend
from ..runtime.bundle import load_bundle


def register(sub: argparse._SubParsersAction) -> None:
    """Add `doctor` to the command tree."""
    p = sub.add_parser("doctor", help="runtimes, devices and the installed model")
    p.add_argument("--model", type=Path, default=None, help="bundle to check (default: the installed model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def collect(model: Path | None) -> dict:
    """Runtimes, their devices and the model's verification, as one dict (also for --json)."""
    report: dict = {"edge_agent": __version__, "python": platform.python_version(),
                    "machine": f"{platform.system()} {platform.machine()}", "runtimes": {}}
    for name in BACKEND_NAMES[1:]:
        try:
            backend = get_backend(name)
            report["runtimes"][name] = {"version": backend.version(), "devices": backend.devices()}
        except UserError as exc:
            report["runtimes"][name] = {"error": str(exc)}
    path = model or default_model_path()
    entry: dict = {"path": str(path)}
    try:
        bundle = load_bundle(path)
        entry.update(name=bundle.name, version=bundle.version, version_code=bundle.version_code,
                     precisions=bundle.precisions, steps=bundle.sampler.steps, verified=True,
                     temporal=bundle.temporal.to_manifest() if bundle.temporal else None)
    except UserError as exc:
        entry.update(verified=False, error=str(exc))
    report["model"] = entry
    return report


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 3 when the model does not verify, so scripts can check a box."""
    report = collect(args.model)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"edge-agent {report['edge_agent']}  python {report['python']}  {report['machine']}")
        for name, info in report["runtimes"].items():
            if "error" in info:
                print(f"  {name:<12} unavailable: {info['error']}")
            else:
                print(f"  {name:<12} {info['version']:<14} devices: {', '.join(info['devices'])}")
        m = report["model"]
        if m["verified"]:
            print(f"  model        {m['name']} {m['version']} (code {m['version_code']}) at {m['path']}: verified; "
                  f"precisions {', '.join(m['precisions'])}; steps {', '.join(map(str, m['steps']))}; "
                  f"temporal filter {m['temporal'] or 'none (videos are enhanced frame by frame)'}")
        else:
            print(f"  model        {m['path']}: NOT usable: {m['error']}")
    if not report["model"]["verified"]:
        sys.stderr.write("error: the model does not verify; see above\n")
        return 3
    return 0
