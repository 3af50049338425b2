"""`edge-agent doctor`: what this box can run, and whether its model verifies.

Devices as OpenVINO's ``hello_query_device`` shows them (full name,
OPTIMIZATION_CAPABILITIES such as INT8/BF16/FP16, streams), the virtual
devices apart, GPU and NPU as absent (with the driver to install) or
unsupported by the installed runtime, and ONNX Runtime's providers."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..paths import default_model_path
from ..runtime.bundle import load_bundle
from .devices import onnxruntime_report, openvino_report


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
    for name, query in (("openvino", openvino_report), ("onnxruntime", onnxruntime_report)):
        try:
            report["runtimes"][name] = query()
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
            print("\n".join(_runtime_lines(name, info)))
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


def _runtime_lines(name: str, info: dict) -> list[str]:
    """The text form of one runtime's entry."""
    if "error" in info:
        return [f"  {name:<12} unavailable: {info['error']}"]
    lines = [f"  {name:<12} {info['version']}"]
    for device, d in info.get("hardware", {}).items():
        lines.append(f"    {device:<6} {d.get('name', '?')}  [{' '.join(d.get('capabilities', []))}]"
                     + (f"  streams {d['streams'][0]}-{d['streams'][-1]}" if d.get("streams") else ""))
    for device, why in info.get("absent", {}).items():
        lines.append(f"    {device:<6} {why}")
    for device in info.get("unsupported", []):
        lines.append(f"    {device:<6} unsupported: this OpenVINO build has no {device} plugin")
    if "virtual" in info:
        lines.append(f"    virtual devices (choose among the above): {', '.join(info['virtual'])}")
    if "providers" in info:
        lines.append(f"    providers: {', '.join(info['providers'])} (devices: {', '.join(info['devices'])})")
        hinted = {p: h for p, h in info["not_in_this_build"].items() if h}
        lines += [f"    {p}: not in this build; {h}" for p, h in hinted.items()]
    return lines
