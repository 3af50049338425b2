"""PROJECTION, not a measurement: latency of the shipped model on edge
accelerators we do not have here, from the model's measured operations per
frame and each device's published INT8 peak.

    python -m benchmarks.projection        # -> benchmarks/results/projection.{json,md}

projected ms = 2 x MACs per frame / (published peak ops/s x utilisation)

Small-channel convolutions (32-128 channels) rarely keep an accelerator busy,
so the projection is given at two assumed utilisations (10% and 30% of the
published peak); the CPU this ran on is shown next to it as measured (from
benchmarks/results/latency.json), with the utilisation it actually reached
against its own measured fp32 matrix-product peak. Memory traffic, host
transfers and the numpy sampler's own time are not modelled: treat each
figure as a compute-bound floor at that utilisation. `edge-agent bench
--device NPU|GPU` on the real box replaces every number here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.report import write_report
from edge_agent.runtime.bundle import load_bundle
from edge_agent.paths import default_model_path

# Published INT8 peaks (dense), with where the figure comes from.
TARGETS: list[dict[str, object]] = [
    {"device": "Intel Core Ultra 7 155H NPU (Meteor Lake)", "tops": 11.0, "runtime": "OpenVINO NPU",
     "source": "Intel: 34 platform TOPS = NPU 11 + GPU 18 + CPU 5"},
    {"device": "Intel Core Ultra 7 155H Arc iGPU (Meteor Lake)", "tops": 18.0, "runtime": "OpenVINO GPU",
     "source": "Intel: 34 platform TOPS = NPU 11 + GPU 18 + CPU 5"},
    {"device": "Intel Core Ultra 200V NPU (Lunar Lake)", "tops": 48.0, "runtime": "OpenVINO NPU",
     "source": "Intel: 120 platform TOPS = NPU 48 + GPU 67 + CPU 5"},
    {"device": "NVIDIA Jetson Orin Nano 8GB", "tops": 20.0, "runtime": "ONNX Runtime TensorRT/CUDA EP",
     "source": "NVIDIA: 40 INT8 TOPS with 2:4 sparsity, i.e. 20 dense"},
    {"device": "NVIDIA Jetson Orin NX 16GB", "tops": 50.0, "runtime": "ONNX Runtime TensorRT/CUDA EP",
     "source": "NVIDIA: 100 INT8 TOPS with 2:4 sparsity (GPU + 2 DLA), i.e. 50 dense"},
]
UTILISATIONS = (0.10, 0.30)


def project(macs_per_pixel_per_step: float, steps: int, height: int, width: int) -> dict:
    gmac = macs_per_pixel_per_step * height * width * steps / 1e9
    rows = []
    for target in TARGETS:
        peak_gops = float(target["tops"]) * 1e3
        rows.append({**target, **{f"projected_ms_at_{int(u * 100)}pct": 2 * gmac / (peak_gops * u) * 1e3
                                  for u in UTILISATIONS}})
    return {"gmac_per_frame": gmac, "rows": rows}


def measured_cpu(latency_json: Path, resolution: str, steps: int) -> dict | None:
    """This machine's own figure for the same setting, if the latency benchmark has run."""
    if not latency_json.exists():
        return None
    result = json.loads(latency_json.read_text())
    for row in result["rows"]:
        if (row.get("resolution"), row.get("backend"), row.get("precision"), row.get("steps")) == (
                resolution, "openvino", "int8", steps) and "p50_ms" in row:
            return {"device": f"{result['machine']['cpu']}, {result['machine']['cores']} cores (this machine)",
                    "p50_ms": row["p50_ms"], "utilisation_vs_fp32_peak": row["efficiency_vs_fp32_peak"]}
    return None


def markdown(result: dict) -> str:
    lines = [f"**Projection, not a measurement.** {result['model']}, {result['steps']} steps at {result['resolution']}: "
             f"{result['gmac_per_frame']:.1f} GMAC per frame. projected ms = 2 x MACs / (published INT8 peak x "
             "utilisation); compute-bound floor, memory traffic and host time not modelled.", "",
             "| device | published INT8 peak (dense) | runtime | projected ms/frame at 10% | projected ms/frame at 30% "
             "| source |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['device']} | {r['tops']:g} TOPS | {r['runtime']} | {r['projected_ms_at_10pct']:.1f} | "
                     f"{r['projected_ms_at_30pct']:.1f} | {r['source']} |")
    cpu = result.get("measured_cpu")
    if cpu:
        lines += ["", f"Measured for comparison (not projected): {cpu['device']}, OpenVINO INT8: "
                      f"{cpu['p50_ms']:.0f} ms p50, {cpu['utilisation_vs_fp32_peak']:.0%} of its measured fp32 "
                      "matrix-product peak."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Projected latency on edge accelerators (labelled as a projection).")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--resolution", default="1280x720")
    ap.add_argument("--latency", type=Path, default=Path("benchmarks/results/latency.json"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/projection"))
    args = ap.parse_args(argv)
    bundle = load_bundle(args.model or default_model_path())
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: --resolution {args.resolution!r} is not WxH (e.g. 1280x720)") from None
    steps = bundle.sampler.default_steps
    macs = bundle.manifest.get("provenance", {}).get("macs_per_pixel")
    if macs is None:
        raise SystemExit(f"error: model {bundle.root} does not record provenance.macs_per_pixel; cannot project")
    result = {"kind": "projection", "model": f"{bundle.name} {bundle.version}", "steps": steps,
              "resolution": args.resolution, **project(macs, steps, height, width),
              "measured_cpu": measured_cpu(args.latency, args.resolution, steps),
              "command": "python -m benchmarks.projection " + " ".join(argv if argv is not None else sys.argv[1:])}
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
