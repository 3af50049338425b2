"""The box's MQTT connection (paho-mqtt 2.x): status with Last Will,
commands in (queued for the agent's loop), replies and publications out,
update chunks straight to disk.

The topics are listed in topics.py. Status is retained ``online``,
``offline`` as the Last Will, ``stopped`` on a clean shutdown; on every
(re)connect the box's current state is published first and ``online`` last,
so a subscriber that sees ``online`` also sees the state that goes with it.

While the broker is away paho keeps at most ``MAX_QUEUED`` messages, so
memory stays bounded; the agent keeps enhancing and publishes again after
paho reconnects by itself.

No message may stop the link: every paho callback catches whatever goes
wrong in it (paho's network thread would die, silently, with the first
exception), a command payload over the size limit is never queued, a full
queue drops and counts, and ``check`` (called by the agent's loop) notices
a dead network thread and starts a new one; ``healthy`` is what the systemd
watchdog is fed on, together with frame progress.
"""
from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config import MqttConfig
from .commands import MAX_PAYLOAD_BYTES
from .topics import HA_ONLINE, Topics, box_subscriptions, command_name, ha_birth, is_chunk, leaf, parse_chunk

log = logging.getLogger("edge_agent.mqtt")
MAX_QUEUED = 200
MAX_CHUNK_PAYLOAD = 256 * 1024  # above the protocol's chunk size; the receiver checks the exact size


@dataclass(frozen=True)
class Incoming:
    """A command as it arrived, with what its reply needs (MQTT 5 response
    topic and correlation data)."""

    name: str
    payload: bytes
    topic: str
    response_topic: str | None
    correlation: bytes | None
    expiry_s: int | None  # MQTT 5 message expiry as delivered (remaining lifetime)
    retained: bool = False  # a retained command is refused, never run
    too_large: int | None = None  # the payload's size when it was over the limit (then not kept)


class MqttLink:
    """One box's connection. paho's network thread only enqueues commands and
    writes chunks; everything else happens on the agent's loop thread."""

    def __init__(self, cfg: MqttConfig, device: str, on_connect_publish: Callable[[], None]) -> None:
        self.cfg = cfg
        self.device = device
        self.topics = Topics(cfg.prefix, device)
        self.commands: queue.Queue[Incoming] = queue.Queue(maxsize=100)
        self.connected = threading.Event()
        self.reconnects = 0
        self.last_error: str | None = None
        self._on_connect_publish = on_connect_publish
        # (transfer id, chunk index, bytes) -> None; set while an update transfer is running
        self.chunk_sink: Callable[[str, int, bytes], None] | None = None
        self._connects = 0
        self.dropped = 0  # commands dropped: queue full
        self.loop_restarts = 0
        self._started = False
        self.protocol = mqtt.MQTTv5 if cfg.protocol in ("auto", "5") else mqtt.MQTTv311
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-agent-{self.device}",
                             protocol=self.protocol)
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password())
        tls = self.cfg.tls
        if tls is not None:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
            client.tls_insecure_set(tls.insecure)
        client.suppress_exceptions = True  # belt and braces: our callbacks catch everything themselves
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_message = self._handle_message
        return client

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._started = True

    def loop_alive(self) -> bool:
        """paho's network thread is running (False before ``start``)."""
        thread = getattr(self.client, "_thread", None)
        return self._started and thread is not None and thread.is_alive()

    def check(self) -> bool:
        """On the agent's loop: restart a dead network thread; returns ``healthy``."""
        if self._started and not self.loop_alive():
            log.error("MQTT network thread died; starting a new one")
            self.last_error = "MQTT network thread died; restarted"
            self.loop_restarts += 1
            try:
                self.client.loop_stop()
                self.client.loop_start()
            except Exception as exc:  # next check tries again
                log.error("cannot restart the MQTT loop: %s", exc)
        return self.healthy()

    def healthy(self) -> bool:
        """The link can deliver: its network thread runs (connected, or reconnecting by itself)."""
        return self.loop_alive()

    def stop(self) -> None:
        """Clean shutdown: retained ``stopped`` replaces the Last Will."""
        if self.connected.is_set():
            info = self.client.publish(self.topics.status, "stopped", qos=1, retain=True)
            info.wait_for_publish(timeout=3)
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False

    def publish(self, topic: str, payload: Any, qos: int = 0, retain: bool = False) -> None:
        """Bytes and text as they are, anything else as JSON."""
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, data, qos=qos, retain=retain)

    def reply(self, incoming: Incoming, payload: dict[str, Any]) -> None:
        """Answer on the MQTT 5 response topic with its correlation data when the
        command named one, else on ``reply/<name>``."""
        data = json.dumps(payload, default=str)
        if incoming.response_topic and self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            if incoming.correlation is not None:
                props.CorrelationData = incoming.correlation
            try:
                self.client.publish(incoming.response_topic, data, qos=1, properties=props)
                return
            except (ValueError, TypeError) as exc:  # a wildcard or otherwise unusable response topic
                log.warning("cannot reply on %r: %s", incoming.response_topic[:80], exc)
        self.client.publish(self.topics.reply(incoming.name), data, qos=1)

    # -- paho callbacks (network thread) ------------------------------------
    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            self._connected(client, reason)
        except Exception as exc:  # never into paho's thread
            self._callback_failed("on_connect", exc)

    def _handle_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """A (re)connection attempt that never got an answer: say so, paho retries by itself."""
        try:
            self.last_error = f"MQTT broker {self.cfg.host}:{self.cfg.port} unreachable; retrying"
            log.warning("%s", self.last_error)
        except Exception as exc:  # never into paho's thread
            self._callback_failed("on_connect_fail", exc)

    def _callback_failed(self, where: str, exc: BaseException) -> None:
        self.last_error = f"MQTT {where} failed: {exc.__class__.__name__}: {exc}"[:300]
        log.error("%s", self.last_error)

    def _connected(self, client: mqtt.Client, reason: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.warning("MQTT broker %s:%s refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            if self.cfg.protocol == "auto" and self.protocol == mqtt.MQTTv5 and reason.value in (1, 132):
                self._fall_back_to_311()
            return
        self._connects += 1
        if self._connects > 1:
            self.reconnects += 1
        log.info("MQTT broker %s:%s %s as %s", self.cfg.host, self.cfg.port,
                 "reconnected" if self._connects > 1 else "connected", self.topics.base)
        for pattern in box_subscriptions(self.topics):
            client.subscribe(pattern, qos=1)
        if self.cfg.home_assistant:  # Home Assistant's birth message: discovery again after it restarts
            client.subscribe(ha_birth(self.cfg.discovery_prefix), qos=1)
        self._on_connect_publish()  # current state first ...
        client.publish(self.topics.status, "online", qos=1, retain=True)  # ... then online
        self.connected.set()

    def _fall_back_to_311(self) -> None:
        log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
        self.protocol = mqtt.MQTTv311
        old = self.client
        self.client = self._make_client()
        threading.Thread(target=lambda: (old.loop_stop(), self.start()), daemon=True).start()

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        if reason is not None and getattr(reason, "is_failure", False):
            self.last_error = f"broker connection lost: {reason}"
            log.warning("MQTT broker %s:%s lost (%s); reconnecting", self.cfg.host, self.cfg.port, reason)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._message(msg)
        except Exception as exc:  # a poison message must not kill paho's network thread
            self._callback_failed("message", exc)

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        if self.cfg.home_assistant and msg.topic == ha_birth(self.cfg.discovery_prefix):
            if msg.payload == HA_ONLINE.encode():
                log.info("Home Assistant came online; publishing discovery again")
                self._on_connect_publish()
            return
        if is_chunk(msg.topic):
            sink = self.chunk_sink
            chunk = _chunk_of(msg.topic)
            if sink is not None and chunk is not None and len(msg.payload) <= MAX_CHUNK_PAYLOAD:
                sink(*chunk, msg.payload)  # written to disk right here: no queue to grow
            return
        props = getattr(msg, "properties", None)
        size = len(msg.payload)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        incoming = Incoming(
            name=command_name(msg.topic)[:64], payload=msg.payload if size <= MAX_PAYLOAD_BYTES else b"", topic=msg.topic,
            response_topic=response_topic if isinstance(response_topic, str) and len(response_topic) < 512 else None,
            correlation=correlation if isinstance(correlation, bytes) and len(correlation) < 512 else None,
            expiry_s=getattr(props, "MessageExpiryInterval", None) if props else None,
            retained=bool(msg.retain), too_large=size if size > MAX_PAYLOAD_BYTES else None)
        try:
            self.commands.put_nowait(incoming)
        except queue.Full:  # a flood of commands must not grow memory
            self.dropped += 1
            self.last_error = f"command queue full; {self.dropped} command(s) dropped"


def _chunk_of(topic: str) -> tuple[str, int] | None:
    """(transfer id, index) of a chunk topic, or None for anything malformed
    (an index such as '²' is a digit to ``isdigit`` but not to ``int``)."""
    try:
        chunk = parse_chunk(topic)
    except ValueError:
        return None
    if chunk is None or not chunk[0].isascii() or len(topic.rsplit("/", 1)[-1]) > 9:
        return None
    return chunk
