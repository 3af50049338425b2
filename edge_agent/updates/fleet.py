"""Fleet-manager side of model updates: offer a signed bundle to one box or
to every box under a prefix, deliver it by URL or as MQTT chunks (sized under
common broker limits, re-sent when a box asks), and follow the results."""
from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ..errors import UserError
from ..fsutil import sha256_file
from ..runtime.bundle import MANIFEST, SIGNATURE, load_bundle, pack_archive
from .signing import load_private_key
from .install import downgrade_statement

CHUNK_BYTES = 100_000  # under the 128 KB message limit many brokers and gateways use
FINAL_STAGES = ("installed", "refused", "rolled back")


@dataclass
class Broker:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    def client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.ca_file:
            client.tls_set(ca_certs=self.ca_file)
        return client


@dataclass
class PushResult:
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # device -> replies in order
    chunks_resent: int = 0

    def final(self, device: str) -> dict[str, Any] | None:
        return next((r for r in reversed(self.replies.get(device, [])) if r.get("stage") in FINAL_STAGES
                     or r.get("ok") is False), None)


def build_offer(bundle_dir: Path, archive: Path, transfer: dict[str, Any], downgrade_key: Path | None) -> dict:
    bundle = load_bundle(bundle_dir)
    manifest = (bundle.root / MANIFEST).read_bytes()
    sig_path = bundle.root / SIGNATURE
    if not sig_path.exists():
        raise UserError(f"bundle {bundle_dir} is not signed; run `edge-agent bundle sign` first")
    args = {"manifest": base64.b64encode(manifest).decode(), "signature": base64.b64encode(sig_path.read_bytes()).decode(),
            "archive_sha256": sha256_file(archive), "archive_size": archive.stat().st_size, "transfer": transfer}
    if downgrade_key is not None:
        args["downgrade_signature"] = base64.b64encode(
            load_private_key(downgrade_key).sign(downgrade_statement(manifest))).decode()
    return args


def push(bundle_dir: Path, broker: Broker, prefix: str, device: str | None, url: str | None = None,
         downgrade_key: Path | None = None, timeout: float = 300.0, drop_chunks: set[int] | None = None) -> PushResult:
    """Offer the bundle and follow it to a final result on each target box.
    ``device`` None = the whole fleet (every box whose retained status is online).
    ``drop_chunks`` withholds chunks from the first pass (tests the re-request path)."""
    work = Path(tempfile.mkdtemp(prefix="fleet-push-"))
    archive = pack_archive(load_bundle(bundle_dir).root, work / "bundle.tar")
    data = archive.read_bytes()
    transfer_id = uuid.uuid4().hex[:12]
    count = (len(data) + CHUNK_BYTES - 1) // CHUNK_BYTES
    transfer = {"url": url} if url else {"chunks": {"id": transfer_id, "count": count, "size": CHUNK_BYTES}}
    offer_args = build_offer(bundle_dir, archive, transfer, downgrade_key)
    scope = device if device else "fleet"
    result, lock, online = PushResult(), threading.Lock(), set()
    client = broker.client()
    offer_id = uuid.uuid4().hex

    def chunk_topic(i: int) -> str:
        return f"{prefix}/{scope}/update/{transfer_id}/chunk/{i}"

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if parts[-1] == "status" and msg.payload == b"online":
            online.add(parts[-2])
        elif parts[-2:] == ["reply", "update"]:
            body = json.loads(msg.payload)
            if body.get("id") == offer_id:
                with lock:
                    result.replies.setdefault(parts[-3], []).append(body)
        elif parts[-1] == "need" and not url:
            for i in json.loads(msg.payload).get("missing", []):
                if 0 <= i < count:
                    c.publish(chunk_topic(i), data[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES], qos=1)
                    result.chunks_resent += 1

    client.on_message = on_message
    connected = threading.Event()
    client.on_connect = lambda c, u, f, r, p: (c.subscribe([(f"{prefix}/+/status", 1), (f"{prefix}/+/reply/update", 1),
                                                            (f"{prefix}/+/update/{transfer_id}/need", 1)]),
                                               connected.set())
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise UserError(f"broker {broker.host}:{broker.port} did not accept the connection")
        time.sleep(0.5)  # retained statuses arrive
        targets = {device} if device else set(online)
        if not targets:
            raise UserError(f"no box under '{prefix}' is online")
        body = {"id": offer_id, "issued_at": time.time(), "expires_at": time.time() + timeout, "args": offer_args}
        client.publish(f"{prefix}/{scope}/cmd/update", json.dumps(body), qos=1).wait_for_publish(10)
        if not url:
            time.sleep(0.5)  # the box has set up its receiver
            for i in range(count):
                if drop_chunks and i in drop_chunks:
                    continue
                client.publish(chunk_topic(i), data[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES], qos=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if all(result.final(t) for t in targets):
                    break
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()
        archive.unlink(missing_ok=True)
        work.rmdir()
    return result


def status(broker: Broker, prefix: str, wait_s: float = 2.0) -> dict[str, dict[str, Any]]:
    """Each box's status, model and last update result, from retained messages."""
    boxes: dict[str, dict[str, Any]] = {}
    client = broker.client()

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        box = boxes.setdefault(parts[-2], {})
        box[parts[-1]] = msg.payload.decode() if parts[-1] == "status" else json.loads(msg.payload)

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe([(f"{prefix}/+/status", 1), (f"{prefix}/+/model", 1),
                                                           (f"{prefix}/+/update_result", 1)])
    client.connect(broker.host, broker.port)
    client.loop_start()
    time.sleep(wait_s)
    client.loop_stop()
    client.disconnect()
    boxes.pop("fleet", None)
    return boxes
