"""Every MQTT topic the project uses, built and parsed here and nowhere else.

Under ``<prefix>/<device>/`` (``device`` is a box's id; ``fleet`` addresses
every box, ``+`` matches any in a subscription)::

    status                 retained online | offline (Last Will) | stopped
    health                 health report (JSON)
    enhanced               per-frame metadata (JSON)
    enhanced/snapshot      retained JPEG, rate-limited (Home Assistant's image entity)
    snapshot               JPEG, on request or every outputs.snapshot_interval_s
    model                  retained: the model in use
    model/update           retained: Home Assistant update entity state (installed/latest version, progress)
    <feature>/set          Frigate-style commands in: enhance (ON|OFF), steps (N), restart, snapshot,
                           update (install: the staged model update), ... (also <prefix>/fleet/<feature>/set)
    <feature>/state        Frigate-style retained state: enhance (ON|OFF), steps (N)
    state/enhance          retained ON | OFF (the older spelling of enhance/state, still published)
    update_result          retained: the last update's outcome
    cmd/<name>             commands in, by command name (also <prefix>/fleet/cmd/<name>); the older
                           spelling of <feature>/set, still accepted
    reply/<name>           replies out (unless MQTT 5 names a response topic)
    update/<id>/chunk/<i>  model transfer chunks  (also <prefix>/fleet/update/...)
    update/<id>/need       the chunks a box still misses

and Home Assistant's ``<discovery prefix>/<component>/<node>/<key>/config``
(node and key limited to ``[a-zA-Z0-9_-]``, the pattern Home Assistant's
discovery accepts) and its birth message ``<discovery prefix>/status``.

The box (mqtt/link.py), Home Assistant discovery, the agent's outputs and the
fleet manager (updates/fleet.py) all build their topics with ``Topics``, so
a topic is renamed in one place.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FLEET = "fleet"  # the device id that addresses every box under a prefix
ANY = "+"  # one topic level, any value (subscriptions only)
SET, STATE = "set", "state"  # Frigate's <feature>/set and <feature>/state
# <feature>/set -> the command it runs, where the two names differ (else the same name)
UPDATE = "update"  # the feature of Home Assistant's update entity: update/set installs the staged model
INSTALL_COMMAND = "install_update"  # what update/set runs (cmd/update is the fleet's signed offer)
FEATURE_COMMANDS = {"steps": "set_steps", UPDATE: INSTALL_COMMAND}
HA_ID = re.compile(r"[a-zA-Z0-9_-]+")  # Home Assistant's discovery node and object ids (TOPIC_MATCHER)
HA_ONLINE = "online"  # Home Assistant's birth payload


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

    @property
    def image(self) -> str:
        return self.join("enhanced", "snapshot")

    @property
    def model_update(self) -> str:
        return self.join("model", "update")

    @property
    def update_set(self) -> str:
        """Home Assistant's update entity's install command: ``update/set``."""
        return self.set(UPDATE)

    def set(self, feature: str = ANY) -> str:
        """Frigate-style command topic ``<feature>/set``."""
        return self.join(feature, SET)

    def state(self, feature: str) -> str:
        """Frigate-style retained state ``<feature>/state``."""
        return self.join(feature, STATE)

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
    return [topics.command(), fleet.command(), topics.set(), fleet.set(), topics.chunk(), fleet.chunk()]


def command_name(topic: str) -> str:
    """The command a topic carries: ``<name>`` on ``cmd/<name>``, the feature's
    command on Frigate-style ``<feature>/set`` (``steps/set`` -> ``set_steps``,
    ``update/set`` -> ``install_update``)."""
    parts = topic.split("/")
    if parts[-1] == SET and len(parts) >= 2:
        return FEATURE_COMMANDS.get(parts[-2], parts[-2])
    return parts[-1]


def discovery_config(discovery_prefix: str, component: str, node: str, key: str) -> str:
    """Home Assistant's discovery topic for one entity (``sensor``/``switch``/...)."""
    for part in (node, key):
        if not HA_ID.fullmatch(part):
            raise ValueError(f"Home Assistant discovery id {part!r} must match [a-zA-Z0-9_-]+")
    return f"{discovery_prefix}/{component}/{node}/{key}/config"


def ha_birth(discovery_prefix: str) -> str:
    """Home Assistant's birth and last-will topic: ``online`` means it (re)started and wants discovery again."""
    return f"{discovery_prefix}/status"


def ha_node_id(device: str) -> str:
    """The discovery node id of a box: ``edge_agent_<device>``, any character
    Home Assistant refuses in an id replaced by ``_`` (``cam.1`` -> ``cam_1``)."""
    return "edge_agent_" + re.sub(r"[^a-zA-Z0-9_-]", "_", device)


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
