"""How long a fleet update of a bundle takes end to end over loopback, by URL
and by MQTT chunks: offer -> download -> verify -> compile -> smoke test ->
swap, measured from `fleet push` until the box reports `installed`.

    python -m benchmarks.update_time            # the shipped default bundle
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import yaml

from benchmarks.local_broker import start_broker
from benchmarks.report import write_json
from edge_agent.runtime.bundle import MANIFEST, load_bundle, pack_archive, write_manifest
from edge_agent.measure import cpu_name, night_frame
from edge_agent.paths import default_model_path
from edge_agent.updates.fleet import Broker, push
from edge_agent.updates.signing import generate_keypair, load_private_key, sign_bundle


def _version(src: Path, dst: Path, code: int, key: Path) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST).read_text())
    manifest.pop("files")
    manifest.update(version_code=code, version=f"{manifest['version']}+bench{code}")
    write_manifest(dst, manifest)
    (dst / "manifest.json.sig").unlink(missing_ok=True)
    sign_bundle(dst, load_private_key(key))
    return dst


def run(model: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="update-bench-"))
    broker, port = start_broker(work)
    key, pub = generate_keypair(work / "keys")
    base = load_bundle(model)
    video = work / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (640, 480))
    for i in range(10):
        writer.write(night_frame(480, 640, i))
    writer.release()
    cfg = {"camera": {"source": str(video), "loop": True}, "model": {"bundle": str(model)},
           "mqtt": {"host": "127.0.0.1", "port": port, "device_id": "bench"},
           "updates": {"trusted_keys": [str(pub)], "url_schemes": ["https", "file"]}, "state_dir": str(work / "state")}
    (work / "agent.yaml").write_text(yaml.safe_dump(cfg))
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(work / "agent.yaml")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        time.sleep(15)  # first compile + first frame
        fleet = Broker("127.0.0.1", port)
        for n, mode in enumerate(("chunks", "url"), start=1):
            bundle = _version(base.root, work / f"v{n}", base.version_code + n, key)
            url = pack_archive(bundle, work / f"v{n}.tar").as_uri() if mode == "url" else None
            t0 = time.monotonic()
            outcome = push(bundle, fleet, "cctv", "bench", url=url, timeout=300, keys=[key])
            final = outcome.final("bench") or {}
            results[mode] = {"seconds": round(time.monotonic() - t0, 2), "stage": final.get("stage"),
                             "error": final.get("error")}
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        broker.terminate()
        shutil.rmtree(work, ignore_errors=True)
    size = sum(f["size"] for f in base.manifest["files"].values())
    return {"machine": f"{cpu_name()}, {os.cpu_count()} cores", "bundle": f"{base.name} {base.version}",
            "bundle_mb": round(size / 1e6, 2), **results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/update_time.json"))
    args = ap.parse_args(argv)
    result = run(args.model or default_model_path())
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
