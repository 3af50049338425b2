"""End-to-end latency of the agent (camera capture -> MQTT message received)
and its overhead beyond inference, against a local Mosquitto broker.

    python -m benchmarks.agent_latency --seconds 60        # shipped model, 1280x720 camera at 10 fps

The camera is a looping video file played in real time; each `enhanced`
message carries the capture time and the inference latency, the subscriber
stamps its arrival. Overhead = end-to-end - inference.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import yaml

from benchmarks.local_broker import start_broker
from benchmarks.report import write_json
from edge_agent.measure import cpu_name, night_frame
from edge_agent.paths import default_model_path


def run(model: Path, width: int, height: int, seconds: float, fps: float, backend: str, precision: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    broker, port = start_broker(work)
    video = work / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for i in range(int(fps * 3)):
        writer.write(night_frame(height, width, i))
    writer.release()
    cfg = {"camera": {"source": str(video), "loop": True},
           "model": {"bundle": str(model), "backend": backend, "precision": precision},
           "mqtt": {"host": "127.0.0.1", "port": port, "device_id": "bench", "health_interval_s": 5},
           "state_dir": str(work / "state")}
    (work / "agent.yaml").write_text(yaml.safe_dump(cfg))
    received: list[tuple[float, dict]] = []
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((time.time(), json.loads(msg.payload)))

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, r, p: c.subscribe("cctv/bench/enhanced")
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(work / "agent.yaml")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not received and time.monotonic() < deadline:  # model compile and first frame
            time.sleep(0.2)
        with lock:
            received.clear()
        time.sleep(seconds)
    finally:
        agent.terminate()
        agent.wait(timeout=60)
        sub.loop_stop()
        broker.terminate()
        shutil.rmtree(work, ignore_errors=True)
    with lock:
        rows = list(received)
    e2e = np.array([(t - m["captured_at"]) * 1e3 for t, m in rows])
    inference = np.array([m["latency_ms"] for _, m in rows])
    overhead = e2e - inference
    return {"machine": f"{cpu_name()}, {os.cpu_count()} cores", "resolution": f"{width}x{height}",
            "camera_fps": fps, "backend": backend, "precision": precision, "frames": len(rows),
            "processed_fps": round(len(rows) / seconds, 2),
            "e2e_p50_ms": round(float(np.percentile(e2e, 50)), 1), "e2e_p95_ms": round(float(np.percentile(e2e, 95)), 1),
            "inference_p50_ms": round(float(np.percentile(inference, 50)), 1),
            "overhead_p50_ms": round(float(np.percentile(overhead, 50)), 1),
            "overhead_p95_ms": round(float(np.percentile(overhead, 95)), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--resolution", default="1280x720")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/agent_latency.json"))
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.resolution.split("x"))
    result = run(args.model or default_model_path(), w, h, args.seconds, args.fps, args.backend, args.precision)
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
