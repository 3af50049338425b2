"""Every MQTT topic the project uses, built and parsed here and nowhere else.

Under ``<prefix>/<device>/`` (``device`` is a box's id; ``fleet`` addresses
every box, ``+`` matches any in a subscription)::

    status                 retained online | offline (Last Will) | stopped
    health                 health report (JSON)
    enhanced               per-frame metadata (JSON)
    snapshot               JPEG
    model                  retained: the model in use
    state/enhance          retained ON | OFF
    update_result          retained: the last update's outcome
    cmd/<name>             commands in            (also <prefix>/fleet/cmd/<name>)
    reply/<name>           replies out (unless MQTT 5 names a response topic)
    update/<id>/chunk/<i>  model transfer chunks  (also <prefix>/fleet/update/...)
    update/<id>/need       the chunks a box still misses

and Home Assistant's ``<discovery prefix>/<component>/<node>/<key>/config``.

The box (mqtt/link.py), Home Assistant discovery, the agent's outputs and the
fleet manager (updates/fleet.py) all build their topics with ``Topics``, so
a topic is renamed in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

FLEET = "fleet"  # the device id that addresses every box under a prefix
ANY = "+"  # one topic level, any value (subscriptions only)


@dataclass(frozen=True)
class Topics:
    """The topics of one box (or of ``FLEET``, or of ``ANY`` box) under a prefix."""

    prefix: str
    device: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device}"

    def join(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    @property
    def status(self) -> str:
        return self.join("status")

    @property
    def health(self) -> str:
        return self.join("health")

    @property
    def enhanced(self) -> str:
        return self.join("enhanced")

    @property
    def snapshot(self) -> str:
        return self.join("snapshot")

    @property
    def model(self) -> str:
        return self.join("model")

    @property
    def enhance_state(self) -> str:
        return self.join("state", "enhance")

    @property
    def update_result(self) -> str:
        return self.join("update_result")

    def command(self, name: str = ANY) -> str:
        return self.join("cmd", name)

    def reply(self, name: str = ANY) -> str:
        return self.join("reply", name)

    def chunk(self, transfer_id: str = ANY, index: int | str = ANY) -> str:
        return self.join("update", transfer_id, "chunk", str(index))

    def need(self, transfer_id: str = ANY) -> str:
        return self.join("update", transfer_id, "need")

    def fleet(self) -> "Topics":
        """The same prefix, addressed to every box."""
        return Topics(self.prefix, FLEET)


def box_subscriptions(topics: Topics) -> list[str]:
    """What a box listens to: its own and the fleet's commands and chunks."""
    fleet = topics.fleet()
    return [topics.command(), fleet.command(), topics.chunk(), fleet.chunk()]


def discovery_config(discovery_prefix: str, component: str, node: str, key: str) -> str:
    """Home Assistant's discovery topic for one entity (``sensor``/``switch``)."""
    return f"{discovery_prefix}/{component}/{node}/{key}/config"


def leaf(topic: str) -> str:
    """The last level: a command's name on ``cmd/<name>``, ``status`` on a status topic."""
    return topic.rsplit("/", 1)[-1]


def device_and_leaf(topic: str) -> tuple[str, str]:
    """(device, leaf) of a topic one level under a device: ``<prefix>/<device>/<leaf>``.
    Read from the end, so a prefix with levels of its own still parses."""
    parts = topic.split("/")
    return parts[-2], parts[-1]


def update_reply_device(topic: str) -> str | None:
    """The box that sent an ``update`` reply, or None for any other topic."""
    parts = topic.split("/")
    return parts[-3] if parts[-2:] == ["reply", "update"] else None


def is_chunk(topic: str) -> bool:
    """A model transfer chunk (box or fleet scope), whatever its index."""
    parts = topic.split("/")
    return len(parts) >= 4 and parts[-2] == "chunk" and parts[-4] == "update"


def parse_chunk(topic: str) -> tuple[str, int] | None:
    """(transfer id, chunk index) of a chunk topic; None when it is not one or
    its index is not a number."""
    parts = topic.split("/")
    return (parts[-3], int(parts[-1])) if is_chunk(topic) and parts[-1].isdigit() else None
