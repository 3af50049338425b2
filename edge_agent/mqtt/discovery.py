"""Home Assistant MQTT discovery: the box's health sensors and its
enhancement switch appear in Home Assistant with no configuration."""
from __future__ import annotations

from typing import Any

from .. import __version__
from .topics import Topics, discovery_config

SENSORS = {  # health key -> (name, unit, device_class)
    "processed_fps": ("Processed FPS", "fps", None),
    "camera_fps": ("Camera FPS", "fps", None),
    "latency_p50_ms": ("Latency p50", "ms", "duration"),
    "latency_p95_ms": ("Latency p95", "ms", "duration"),
    "dropped_frames": ("Dropped frames", None, None),
    "cpu_percent": ("CPU", "%", None),
    "memory_mb": ("Memory", "MB", "data_size"),
    "temperature_c": ("Temperature", "°C", "temperature"),
    "camera_state": ("Camera state", None, None),
}


def discovery_messages(discovery_prefix: str, topics: Topics, model_version: str) -> dict[str, dict[str, Any]]:
    """Topic -> retained config payload, for the box whose topics are ``topics``."""
    device = topics.device
    node = f"edge_agent_{device}"
    device_info = {"identifiers": [node], "name": f"Night CCTV {device}", "manufacturer": "night-cctv-edge",
                   "model": f"model {model_version}", "sw_version": __version__}
    availability = [{"topic": topics.status, "value_template": "{{ 'online' if value == 'online' else 'offline' }}"}]
    messages: dict[str, dict[str, Any]] = {}
    for key, (name, unit, device_class) in SENSORS.items():
        config: dict[str, Any] = {"name": name, "unique_id": f"{node}_{key}", "state_topic": topics.health,
                                  "value_template": f"{{{{ value_json.{key} }}}}", "device": device_info,
                                  "availability": availability}
        if unit:
            config["unit_of_measurement"] = unit
        if device_class:
            config["device_class"] = device_class
        messages[discovery_config(discovery_prefix, "sensor", node, key)] = config
    messages[discovery_config(discovery_prefix, "switch", node, "enhance")] = {
        "name": "Enhancement", "unique_id": f"{node}_enhance", "command_topic": topics.command("enhance"),
        "state_topic": topics.enhance_state, "payload_on": "ON", "payload_off": "OFF",
        "device": device_info, "availability": availability}
    return messages
