"""Home Assistant MQTT discovery: the box appears in Home Assistant as one
device with its health sensors (with ``state_class``, so Home Assistant keeps
statistics), the enhancement switch, a number for the sampler steps, a
restart button, the enhanced picture as an ``image`` entity and the model as
an ``update`` entity, with no configuration.

Conventions (Home Assistant's MQTT discovery documentation and its schemas in
``homeassistant/components/mqtt/``): one retained config per entity on
``<discovery prefix>/<component>/<node>/<key>/config``, node and key in
``[a-zA-Z0-9_-]``; every config carries the ``device`` block (``model`` is the
product, ``sw_version`` this package's version; the model bundle's version is
the ``update`` entity's state and a diagnostic sensor) and the ``origin``
block naming the software that sent it. Everything is sent again when Home
Assistant announces itself on ``<discovery prefix>/status`` (its birth
message), so entities come back after Home Assistant restarts.

Commands from Home Assistant travel on the Frigate-style ``<feature>/set``
topics; number and button wrap their value in the command envelope
(``id``, ``issued_at``) with a ``command_template``, so the box checks them
like any other command. The update entity's Install sends the fixed
``payload_install`` (Home Assistant gives it no template) on ``update/set``:
it installs the signed update the box keeps staged (``updates.auto_install:
false``), and like the switch's plain ON/OFF it is accepted only where the
command is open (mqtt/commands.py ``RAW_PAYLOADS``).
"""
from __future__ import annotations

from typing import Any

from .. import __version__
from .commands import PAYLOAD_INSTALL
from .topics import Topics, discovery_config, ha_node_id

PRODUCT = "Night CCTV edge agent"
MANUFACTURER = "night-cctv-edge"
ORIGIN = {"name": "edge-agent", "sw_version": __version__}
CAMERA_STATES = ["starting", "connecting", "streaming", "reconnecting", "ended", "stopped"]

# health key -> (name, unit, device_class, state_class, entity_category)
SENSORS: dict[str, tuple[str, str | None, str | None, str | None, str | None]] = {
    "processed_fps": ("Processed FPS", "fps", None, "measurement", None),
    "camera_fps": ("Camera FPS", "fps", None, "measurement", None),
    "latency_p50_ms": ("Latency p50", "ms", "duration", "measurement", "diagnostic"),
    "latency_p95_ms": ("Latency p95", "ms", "duration", "measurement", "diagnostic"),
    "dropped_frames": ("Dropped frames", None, None, "total_increasing", "diagnostic"),
    "cpu_percent": ("CPU", "%", None, "measurement", "diagnostic"),
    "memory_mb": ("Memory", "MiB", "data_size", "measurement", "diagnostic"),
    "temperature_c": ("Temperature", "°C", "temperature", "measurement", "diagnostic"),
    "camera_state": ("Camera state", None, "enum", None, None),
    "model_version": ("Model version", None, None, None, "diagnostic"),
}
# The command envelope (mqtt/commands.py) rendered by Home Assistant from its own clock.
_ENVELOPE = '{{"id": "ha-{{{{ now().timestamp() }}}}", "issued_at": {{{{ now().timestamp() }}}}, "args": {args}}}'
STEPS_TEMPLATE = _ENVELOPE.format(args='{"steps": {{ value | int }}}')
PRESS_TEMPLATE = _ENVELOPE.format(args="{}")


def device_block(topics: Topics) -> dict[str, Any]:
    """The ``device`` every entity of this box shares."""
    node = ha_node_id(topics.device)
    return {"identifiers": [node], "name": f"Night CCTV {topics.device}", "manufacturer": MANUFACTURER,
            "model": PRODUCT, "sw_version": __version__}


def _sensor(topics: Topics, key: str) -> dict[str, Any]:
    name, unit, device_class, state_class, category = SENSORS[key]
    config: dict[str, Any] = {"name": name, "state_topic": topics.health,
                              "value_template": f"{{{{ value_json.{key} }}}}"}
    for field, value in (("unit_of_measurement", unit), ("device_class", device_class),
                         ("state_class", state_class), ("entity_category", category)):
        if value:
            config[field] = value
    if device_class == "enum":
        config["options"] = CAMERA_STATES
    return config


def _controls(topics: Topics, steps: list[int]) -> dict[tuple[str, str], dict[str, Any]]:
    """(component, key) -> config of the entities that do something."""
    return {
        ("switch", "enhance"): {"name": "Enhancement", "command_topic": topics.set("enhance"),
                                "state_topic": topics.state("enhance"), "payload_on": "ON", "payload_off": "OFF",
                                "icon": "mdi:weather-night"},
        ("number", "steps"): {"name": "Sampler steps", "command_topic": topics.set("steps"),
                              "state_topic": topics.state("steps"), "command_template": STEPS_TEMPLATE,
                              "min": min(steps), "max": max(steps), "step": 1, "mode": "box",
                              "entity_category": "config", "icon": "mdi:stairs"},
        ("button", "restart"): {"name": "Restart", "command_topic": topics.set("restart"),
                                "command_template": PRESS_TEMPLATE, "device_class": "restart",
                                "entity_category": "config"},
        ("image", "enhanced"): {"name": "Enhanced picture", "image_topic": topics.image,
                                "content_type": "image/jpeg"},
        ("update", "model"): {"name": "Model", "state_topic": topics.model_update, "title": "Night CCTV model",
                              "command_topic": topics.update_set, "payload_install": PAYLOAD_INSTALL,
                              "entity_category": "config"},
    }


def discovery_messages(discovery_prefix: str, topics: Topics, model_version: str,
                       steps: list[int] | None = None) -> dict[str, dict[str, Any]]:
    """Topic -> retained config payload, for the box whose topics are ``topics``.
    ``model_version`` is the installed bundle's (shown by the update entity's
    state, not here); ``steps`` the step counts the bundle supports."""
    node = ha_node_id(topics.device)
    common = {"device": device_block(topics), "origin": ORIGIN, "availability": [
        {"topic": topics.status, "value_template": "{{ 'online' if value == 'online' else 'offline' }}"}]}
    entities = {("sensor", key): _sensor(topics, key) for key in SENSORS}
    entities.update(_controls(topics, steps or [1]))
    return {discovery_config(discovery_prefix, component, node, key):
            {**config, "unique_id": f"{node}_{key}", **common}
            for (component, key), config in entities.items()}


def update_state(installed: str, latest: str | None = None, in_progress: bool = False,
                 percentage: float | None = None, summary: str | None = None) -> dict[str, Any]:
    """The update entity's retained state (Home Assistant's JSON form)."""
    state: dict[str, Any] = {"installed_version": installed, "latest_version": latest or installed,
                             "in_progress": in_progress}
    if percentage is not None:
        state["update_percentage"] = round(percentage, 1)
    if summary:
        state["release_summary"] = summary[:255]
    return state
