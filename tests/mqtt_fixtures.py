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
    def __init__(self, folder: Path, port: int | None = None, tls: dict[str, str] | None = None,
                 users: dict[str, str] | None = None, require_certificate: bool = False) -> None:
        """``users``: name -> password, then anonymous clients are refused;
        ``require_certificate``: TLS clients must present a certificate of the CA."""
        self.folder, self.port, self.tls = folder, port or free_port(), tls
        self.users, self.require_certificate = users, require_certificate
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if self.users else 'true'}",
                 "persistence false"]
        if os.geteuid() == 0:  # else mosquitto drops to its own user and cannot read the test's 0700 tmp dir
            lines.append("user root")
        if self.users:
            passwd = self.folder / f"passwd-{self.port}"
            passwd.write_text("")
            for name, password in self.users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", str(passwd),
                                name, password], check=True, capture_output=True)
            lines.append(f"password_file {passwd}")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
            if self.require_certificate:
                lines.append("require_certificate true")
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


class Mqtt311OnlyProxy:
    """A broker that does not speak MQTT 5, as older Mosquitto 1.4 / cloud
    brokers: a TCP front on its own port that answers an MQTT 5 CONNECT with
    CONNACK "unsupported protocol version" (0x84) and closes, and passes
    MQTT 3.1.1 connections through to ``upstream_port`` (a real broker)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port, self.port = upstream_port, free_port()
        self.refused_v5 = 0
        self.passed_311 = 0
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_packet(conn: socket.socket) -> tuple[bytes, bytes]:
        header = conn.recv(1)
        length, shift, raw = 0, 0, b""
        while True:  # MQTT variable-length remaining length
            b = conn.recv(1)
            raw += b
            length |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        body = b""
        while len(body) < length:
            chunk = conn.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        return header + raw + body, body

    def _serve(self, conn: socket.socket) -> None:
        try:
            packet, body = self._read_packet(conn)
            name_len = int.from_bytes(body[0:2], "big")
            level = body[2 + name_len]  # protocol level: 4 = 3.1.1, 5 = MQTT 5
            if level == 5:
                self.refused_v5 += 1
                conn.sendall(bytes([0x20, 3, 0x00, 0x84, 0x00]))  # CONNACK, reason 0x84, no properties
                conn.close()
                return
            self.passed_311 += 1
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            up.sendall(packet)
            threading.Thread(target=_pipe, args=(up, conn), daemon=True).start()
            _pipe(conn, up)
        except (OSError, IndexError):
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Recorder:
    """Subscribes to everything and keeps what arrives, per topic."""

    def __init__(self, port: int, topics: str = "#", protocol: int = mqtt.MQTTv5,
                 auth: tuple[str, str] | None = None, **tls: Any) -> None:
        self.messages: list[tuple[str, bytes, bool, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        if auth:
            self.client.username_pw_set(*auth)
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
