"""A real Mosquitto broker on a free loopback port, and a recording client."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder: Path, port: int | None = None, tls: dict[str, str] | None = None) -> None:
        self.folder, self.port, self.tls = folder, port or free_port(), tls
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if os.geteuid() == 0:  # else mosquitto drops to its own user and cannot read the test's 0700 tmp dir
            lines.append("user root")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
        conf = self.folder / f"mosquitto-{self.port}.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Recorder:
    """Subscribes to everything and keeps what arrives, per topic."""

    def __init__(self, port: int, topics: str = "#", protocol: int = mqtt.MQTTv5, **tls: Any) -> None:
        self.messages: list[tuple[str, bytes, bool, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        if tls:
            self.client.tls_set(**tls)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topics, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain), getattr(msg, "properties", None)))

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _, _ in self.messages if t == topic]

    def wait_for(self, topic: str, predicate=lambda p: True, timeout: float = 60.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.payloads(topic):
                if predicate(p):
                    return p
            time.sleep(0.05)
        raise AssertionError(f"nothing matching on {topic} within {timeout} s; got {self.payloads(topic)[-3:]}")

    def wait_json(self, topic: str, predicate=lambda d: True, timeout: float = 60.0) -> dict:
        return json.loads(self.wait_for(topic, lambda p: _is_json(p) and predicate(json.loads(p)), timeout))

    def publish(self, topic: str, payload: Any, **kw: Any) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, data, qos=1, **kw).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _is_json(p: bytes) -> bool:
    try:
        json.loads(p)
        return True
    except ValueError:
        return False


@pytest.fixture()
def broker(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (tests/run.sh installs it)")
    b = Broker(tmp_path).start()
    yield b
    b.stop()
