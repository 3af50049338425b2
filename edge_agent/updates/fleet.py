"""Fleet-manager side: offer a signed bundle to one box or the fleet, deliver
it by URL or as MQTT chunks (sized under common broker limits, re-sent when a
box asks) and follow the results; send a remote command (signed by the
commands role) and collect the replies. Offers follow updates/protocol.py,
commands mqtt/commands.py, topics mqtt/topics.py: the modules the boxes read.
"""
from __future__ import annotations

import base64
import json
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ..errors import UserError
from ..fsutil import sha256_bytes, sha256_file
from ..mqtt.commands import NOT_TARGETED, command_payload
from ..mqtt.topics import ANY, FLEET, Topics, device_and_leaf, update_reply_device
from ..runtime.bundle import MANIFEST, SIGNATURE, load_bundle, pack_archive
from .protocol import (FINAL_STAGES, METADATA_TYPE, canonical, chunk, chunk_count, chunk_transfer, missing_of,
                       offer_args, url_transfer)
from .signing import key_id, load_private_key

CONNECT_TIMEOUT_S = 10.0
SETTLE_S = 0.5  # retained statuses arrive; a box sets up its chunk receiver


@dataclass
class Broker:
    """Where the fleet manager connects (the boxes' broker)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    def client(self) -> mqtt.Client:
        """A fresh MQTT 5 client for this broker, with its credentials and CA."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.ca_file:
            client.tls_set(ca_certs=self.ca_file)
        return client


def connect(client: mqtt.Client, broker: Broker) -> None:
    """Connect, or one clear error line (refused, unreachable, TLS) instead of a traceback."""
    try:
        client.connect(broker.host, broker.port)
    except (OSError, ValueError) as exc:
        raise UserError(f"broker {broker.host}:{broker.port} cannot be reached: {exc.__class__.__name__}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None


@dataclass
class PushResult:
    """Every reply each box sent about this offer, in order."""

    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # device -> replies in order
    chunks_resent: int = 0

    def final(self, device: str) -> dict[str, Any] | None:
        """The box's last word (installed, refused, rolled back, or an error), if it has spoken."""
        return next((r for r in reversed(self.replies.get(device, [])) if r.get("stage") in FINAL_STAGES
                     or r.get("ok") is False), None)


def build_offer(bundle_dir: Path, archive: Path, transfer: dict[str, Any], keys: list[Path], devices: list[str],
                expires_s: float = 3600.0, floor: int = 0, downgrade: bool = False, summary: str | None = None) -> dict:
    """The ``update`` command's args: the bundle's manifest and signature and
    the transfer metadata (with ``summary``, the release summary Home
    Assistant shows), signed by every key in ``keys`` (the update role)."""
    bundle = load_bundle(bundle_dir)
    manifest = (bundle.root / MANIFEST).read_bytes()
    sig_path = bundle.root / SIGNATURE
    if not sig_path.exists():
        raise UserError(f"bundle {bundle_dir} is not signed; run `edge-agent bundle sign` first")
    if not keys:
        raise UserError("an offer must be signed: give the fleet's update key (--key)")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    now = time.time()
    meta = {"_type": METADATA_TYPE, "spec": 1, "version_code": int(json.loads(manifest)["version_code"]),
            "manifest_sha256": sha256_bytes(manifest), "archive_sha256": sha256_file(archive),
            "archive_size": archive.stat().st_size, "unpacked_size": sum(m.size for m in members),
            "file_count": len(members), "transfer": transfer, "devices": devices, "issued_at": now,
            "expires_at": now + expires_s, "floor": floor, "downgrade": downgrade}
    if summary:
        meta["release_summary"] = summary
    metadata = canonical(meta)
    signatures = []
    for path in keys:
        key = load_private_key(path)
        signatures.append({"key_id": key_id(key.public_key()), "signature": base64.b64encode(key.sign(metadata)).decode()})
    return offer_args(metadata, signatures, manifest, sig_path.read_bytes())


def push(bundle_dir: Path, broker: Broker, prefix: str, device: str | None, url: str | None = None,
         downgrade_key: Path | None = None, timeout: float = 300.0, drop_chunks: set[int] | None = None,
         keys: list[Path] | None = None, floor: int = 0, devices: list[str] | None = None,
         summary: str | None = None) -> PushResult:
    """Offer the bundle and follow it to a final result on each target box.
    ``device`` None = the whole fleet (every box whose retained status is online).
    ``keys`` sign the offer (the update role); ``downgrade_key`` signs it too
    and marks it as an allowed downgrade. ``drop_chunks`` withholds chunks
    from the first pass (tests the re-request path)."""
    work = Path(tempfile.mkdtemp(prefix="fleet-push-"))
    archive = pack_archive(load_bundle(bundle_dir).root, work / "bundle.tar")
    try:
        data = archive.read_bytes()
        transfer_id = uuid.uuid4().hex[:12]
        transfer = url_transfer(url) if url else chunk_transfer(transfer_id, chunk_count(len(data)))
        signers = list(keys or []) + ([downgrade_key] if downgrade_key and downgrade_key not in (keys or []) else [])
        args = build_offer(bundle_dir, archive, transfer, signers, devices or [device or FLEET],
                           expires_s=max(timeout, 60.0) + 600.0, floor=floor, downgrade=downgrade_key is not None,
                           summary=summary)
        session = PushSession(broker, prefix, device, transfer_id, None if url else data)
        session.run(args, timeout, drop_chunks or set())
    finally:
        archive.unlink(missing_ok=True)
        work.rmdir()
    return session.result


class PushSession:
    """One offer on the wire: publish it, serve chunks (again when asked) and
    collect each box's replies until every target has a final one."""

    def __init__(self, broker: Broker, prefix: str, device: str | None, transfer_id: str, data: bytes | None) -> None:
        self.broker, self.device, self.transfer_id, self.data = broker, device, transfer_id, data
        self.to = Topics(prefix, device or FLEET)  # where the offer and chunks go
        self.watch = Topics(prefix, ANY)  # what comes back from any box
        self.count = chunk_count(len(data)) if data is not None else 0
        self.offer_id = uuid.uuid4().hex
        self.result, self.lock, self.online = PushResult(), threading.Lock(), set()
        self.connected = threading.Event()
        self.client = broker.client()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect

    def run(self, args: dict[str, Any], timeout: float, drop_chunks: set[int]) -> None:
        """Connect, offer, send chunks and wait until every target box has a final reply or time runs out."""
        connect(self.client, self.broker)
        self.client.loop_start()
        try:
            if not self.connected.wait(CONNECT_TIMEOUT_S):
                raise UserError(f"broker {self.broker.host}:{self.broker.port} did not accept the connection")
            time.sleep(SETTLE_S)  # retained statuses arrive
            targets = {self.device} if self.device else set(self.online)
            if not targets:
                raise UserError(f"no box under '{self.to.prefix}' is online")
            body = command_payload(self.offer_id, args, expires_at=time.time() + timeout)
            self.client.publish(self.to.command("update"), json.dumps(body), qos=1).wait_for_publish(10)
            if self.data is not None:
                time.sleep(SETTLE_S)  # the box has set up its receiver
                for i in range(self.count):
                    if i not in drop_chunks:
                        self._send_chunk(i)
            self._wait(targets, timeout)
        finally:
            self.client.loop_stop()
            self.client.disconnect()

    def _wait(self, targets: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(self.result.final(t) for t in targets):
                    return
            time.sleep(0.1)

    def _send_chunk(self, index: int) -> None:
        assert self.data is not None
        self.client.publish(self.to.chunk(self.transfer_id, index), chunk(self.data, index), qos=1)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe([(self.watch.status, 1), (self.watch.reply("update"), 1),
                          (self.watch.need(self.transfer_id), 1)])
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._message(msg)
        except (ValueError, TypeError, AttributeError, RecursionError):  # a box's garbage must not stop the push
            pass

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        device, leaf = device_and_leaf(msg.topic)
        replier = update_reply_device(msg.topic)
        if leaf == "status" and msg.payload == b"online":
            self.online.add(device)
        elif replier is not None:
            body = json.loads(msg.payload)
            if isinstance(body, dict) and body.get("id") == self.offer_id:
                with self.lock:
                    self.result.replies.setdefault(replier, []).append(body)
        elif leaf == "need" and self.data is not None:
            for i in missing_of(json.loads(msg.payload)):
                if 0 <= i < self.count:
                    self._send_chunk(i)
                    self.result.chunks_resent += 1


def status(broker: Broker, prefix: str, wait_s: float = 2.0) -> dict[str, dict[str, Any]]:
    """Each box's status, model and last update result, from retained messages."""
    boxes: dict[str, dict[str, Any]] = {}
    client = broker.client()
    watch = Topics(prefix, ANY)

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        device, leaf = device_and_leaf(msg.topic)
        boxes.setdefault(device, {})[leaf] = msg.payload.decode() if leaf == "status" else json.loads(msg.payload)

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe([(watch.status, 1), (watch.model, 1),
                                                           (watch.update_result, 1)])
    connect(client, broker)
    client.loop_start()
    time.sleep(wait_s)
    client.loop_stop()
    client.disconnect()
    boxes.pop(FLEET, None)
    return boxes


@dataclass
class CommandResult:
    """Replies to one command by box (``outside``: not in its group, NOT_TARGETED), ``silent`` targets, statuses."""

    id: str
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    outside: dict[str, dict[str, Any]] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


def send_command(broker: Broker, prefix: str, name: str, args: dict[str, Any], device: str | None = None,
                 group: str | None = None, key: Path | None = None, expires_in: float = 300.0,
                 timeout: float = 15.0) -> CommandResult:
    """Send ``name`` to ``device`` or, on the fleet topic, to every (online) box or a ``group``, signed by
    ``key`` (commands role) for that target; collect replies (each box's ``reply/<name>``, by id) until
    every target has answered or ``timeout``."""
    signer = load_private_key(key) if key is not None else None  # an unreadable key fails before the network
    watch, result, connected = Topics(prefix, ANY), CommandResult(uuid.uuid4().hex), threading.Event()
    client = _command_client(broker, watch, name, result, group is not None, connected)
    connect(client, broker)
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            raise UserError(f"broker {broker.host}:{broker.port} did not accept the connection")
        time.sleep(SETTLE_S)  # retained statuses arrive: they say which boxes a fleet command waits for
        body = command_payload(result.id, args, expires_at=time.time() + expires_in, name=name,
                               target=device or group or FLEET, key=signer)
        client.publish(Topics(prefix, device or FLEET).command(name), json.dumps(body), qos=1).wait_for_publish(10)
        deadline = time.monotonic() + timeout
        while True:  # dict() and set() copy at once (under the GIL) what paho's thread adds
            targets = {device} if device else {b for b, s in dict(result.statuses).items() if s == "online"}
            result.silent = sorted(targets - set(result.replies) - set(result.outside))
            if (targets and not result.silent) or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    return result


def _command_client(broker: Broker, watch: Topics, name: str, result: CommandResult, group: bool,
                    connected: threading.Event) -> mqtt.Client:
    """``send_command``'s client: it keeps statuses and each box's first reply to the id (not later progress)."""
    head, tail = watch.reply(name).split(ANY)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            box = msg.topic[len(head):-len(tail)]
            if msg.topic.startswith(head) and msg.topic.endswith(tail) and box and "/" not in box:
                body = json.loads(msg.payload)
                if isinstance(body, dict) and body.get("id") == result.id and "stage" not in body:
                    outside = group and body.get("code") == NOT_TARGETED  # a box not in the group, not a refusal
                    (result.outside if outside else result.replies).setdefault(box, body)
            elif (where := device_and_leaf(msg.topic))[1] == "status":
                result.statuses[where[0]] = msg.payload.decode(errors="replace")
        except (ValueError, TypeError, AttributeError, RecursionError):  # a box's garbage must not stop the sender
            pass

    client = broker.client()
    client.on_message = on_message
    client.on_connect = lambda c, *_: (c.subscribe([(watch.status, 1), (watch.reply(name), 1)]), connected.set())
    return client
