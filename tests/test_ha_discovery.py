"""Home Assistant and Frigate conventions on a real Mosquitto: every discovery
payload the agent sends is checked against Home Assistant's MQTT discovery
schema for its platform, the birth message brings discovery back, the
enhanced picture is a retained image, and Home Assistant's own payloads
(switch ON/OFF, the number's and button's command templates) drive the box on
Frigate-style ``<feature>/set`` topics while the older ``cmd/<name>`` still works.

The schema below restates, per platform, the keys and rules of Home
Assistant's discovery schemas (``homeassistant/components/mqtt/``:
``schemas.py`` for the device, origin and availability blocks and
MQTT_ENTITY_COMMON_SCHEMA; ``sensor.py``, ``switch.py``, ``number.py``,
``button.py``, ``image.py``, ``update.py`` for the platforms; the device
class units of ``homeassistant/components/sensor/const.py``;
``discovery.py``'s TOPIC_MATCHER for the topic). It is stricter than Home
Assistant in one way: a key Home Assistant would silently drop is an error
here, so a misspelt key cannot hide.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from edge_agent.mqtt.commands import CommandRouter
from edge_agent.mqtt.discovery import discovery_messages
from edge_agent.mqtt.topics import Topics, command_name, discovery_config, ha_node_id

from mqtt_fixtures import Recorder
from test_agent import BASE, agent_config, start_agent

TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")

string = lambda v: isinstance(v, str)  # noqa: E731
boolean = lambda v: isinstance(v, bool)  # noqa: E731
number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
topic = lambda v: isinstance(v, str) and v and "#" not in v and "+" not in v and "\0" not in v  # noqa: E731
one_of = lambda *allowed: (lambda v: v in allowed)  # noqa: E731
icon = lambda v: isinstance(v, str) and re.fullmatch(r"[a-z0-9-]+:[a-z0-9-]+", v) is not None  # noqa: E731


def template(v: Any) -> bool:
    jinja2 = pytest.importorskip("jinja2")
    jinja2.Environment().parse(v)
    return isinstance(v, str)


def availability(v: Any) -> bool:
    keys = {"topic": topic, "payload_available": string, "payload_not_available": string, "value_template": template}
    return isinstance(v, list) and all(isinstance(a, dict) and "topic" in a and _fields(a, keys) == [] for a in v)


DEVICE = {"identifiers": lambda v: isinstance(v, list) and all(map(string, v)), "connections": lambda v: isinstance(v, list),
          "manufacturer": string, "model": string, "model_id": string, "name": string, "hw_version": string,
          "serial_number": string, "sw_version": string, "via_device": string, "suggested_area": string,
          "configuration_url": string}
ORIGIN = {"name": string, "sw_version": string, "support_url": string}
COMMON = {"availability": availability, "availability_mode": one_of("all", "any", "latest"),
          "availability_topic": topic, "availability_template": template, "payload_available": string,
          "payload_not_available": string, "device": lambda v: isinstance(v, dict), "origin": lambda v: isinstance(v, dict),
          "enabled_by_default": boolean, "entity_category": one_of("config", "diagnostic"), "icon": icon,
          "json_attributes_topic": topic, "json_attributes_template": template, "default_entity_id": string,
          "unique_id": string, "name": lambda v: v is None or isinstance(v, str), "qos": one_of(0, 1, 2),
          "encoding": string}
RO = {"state_topic": topic, "value_template": template}
RW = {**RO, "command_topic": topic, "retain": boolean}
SENSOR_UNITS = {"duration": {"d", "h", "min", "s", "ms", "μs"}, "temperature": {"°C", "°F", "K"},
                "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB",
                              "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}}
PLATFORMS: dict[str, tuple[set[str], dict[str, Callable[[Any], bool]]]] = {
    "sensor": ({"state_topic"}, {**RO, "unit_of_measurement": string, "device_class": string,
                                 "state_class": one_of("measurement", "measurement_angle", "total", "total_increasing"),
                                 "expire_after": number, "force_update": boolean, "suggested_display_precision": number,
                                 "options": lambda v: isinstance(v, list) and all(map(string, v)),
                                 "last_reset_value_template": template}),
    "switch": ({"command_topic"}, {**RW, "command_template": template, "payload_on": string, "payload_off": string,
                                   "state_on": string, "state_off": string, "optimistic": boolean,
                                   "device_class": one_of("outlet", "switch")}),
    "number": ({"command_topic"}, {**RW, "command_template": template, "min": number, "max": number,
                                   "step": lambda v: number(v) and v >= 0.001, "mode": one_of("auto", "box", "slider"),
                                   "optimistic": boolean, "payload_reset": string, "unit_of_measurement": string,
                                   "device_class": string}),
    "button": ({"command_topic"}, {"command_topic": topic, "command_template": template, "payload_press": string,
                                   "retain": boolean, "device_class": one_of("identify", "restart", "update")}),
    "image": (set(), {"image_topic": topic, "url_topic": topic, "content_type": string, "image_encoding": one_of("b64"),
                      "url_template": template}),
    "update": (set(), {**RW, "latest_version_topic": topic, "latest_version_template": template,
                       "payload_install": string, "release_summary": string, "release_url": string, "title": string,
                       "entity_picture": string, "device_class": one_of("firmware"), "display_precision": number}),
}


def _fields(payload: dict, allowed: dict[str, Callable[[Any], bool]]) -> list[str]:
    errors = [f"unknown key {k!r}" for k in payload if k not in allowed]
    return errors + [f"bad value for {k!r}: {v!r}" for k, v in payload.items() if k in allowed and not allowed[k](v)]


def ha_schema_errors(discovery_topic: str, payload: dict) -> list[str]:
    """What Home Assistant's discovery would refuse (or silently drop) in one config."""
    match = TOPIC_MATCHER.fullmatch(discovery_topic.split("/", 1)[1])
    if match is None:
        return [f"topic {discovery_topic} does not match Home Assistant's TOPIC_MATCHER"]
    component = match["component"]
    required, keys = PLATFORMS[component]
    errors = _fields(payload, {**COMMON, **keys})
    errors += [f"missing required {k!r}" for k in required if k not in payload]
    errors += _fields(payload.get("device", {}), DEVICE) + _fields(payload.get("origin", {}), ORIGIN)
    if "device" in payload and not payload["device"].get("identifiers") and not payload["device"].get("connections"):
        errors.append("device without identifiers or connections")
    if "origin" in payload and "name" not in payload["origin"]:
        errors.append("origin without name")
    if component == "sensor":
        dc, unit = payload.get("device_class"), payload.get("unit_of_measurement")
        if dc in SENSOR_UNITS and unit not in SENSOR_UNITS[dc]:
            errors.append(f"unit {unit!r} is not valid for device_class {dc!r}")
        if dc == "enum" and ("state_class" in payload or unit or not payload.get("options")):
            errors.append("an enum sensor needs options and takes no state_class or unit")
        if "options" in payload and dc != "enum":
            errors.append("options need device_class enum")
    if component == "image" and ("image_topic" in payload) == ("url_topic" in payload):
        errors.append("image needs exactly one of image_topic, url_topic")
    if component == "number" and not payload.get("min", 1) < payload.get("max", 100):
        errors.append("number min must be below max")
    return errors


def render(template_text: str, value: Any) -> bytes:
    """A command template as Home Assistant renders it (Jinja, with its now())."""
    jinja2 = pytest.importorskip("jinja2")
    from datetime import datetime
    return jinja2.Environment().from_string(template_text).render(value=value, now=datetime.now).encode()


# -- without a broker -----------------------------------------------------------
def test_every_discovery_payload_matches_home_assistants_schema():
    messages = discovery_messages("homeassistant", Topics("cctv", "cam.1"), "0.2.0", [2, 3, 4])
    platforms = {t.split("/")[1] for t in messages}
    assert platforms == {"sensor", "switch", "number", "button", "image", "update"}
    for t, payload in messages.items():
        assert ha_schema_errors(t, payload) == [], t
        assert payload["device"]["model"] == "Night CCTV edge agent" and "0.2.0" not in json.dumps(payload["device"])
        assert payload["origin"]["name"] == "edge-agent" and payload["unique_id"].startswith("edge_agent_cam_1_")
    assert len({p["unique_id"] for p in messages.values()}) == len(messages)
    stateful = [p for t, p in messages.items() if "/sensor/" in t and p.get("unit_of_measurement")]
    assert stateful and all("state_class" in p for p in stateful)


def test_node_ids_are_validated_and_topics_frigate_style():
    assert ha_node_id("cam.1") == "edge_agent_cam_1" and ha_node_id("yard-2_b") == "edge_agent_yard-2_b"
    with pytest.raises(ValueError):
        discovery_config("homeassistant", "sensor", "cam.1", "fps")
    t = Topics("cctv", "cam1")
    assert t.set("enhance") == "cctv/cam1/enhance/set" and t.state("steps") == "cctv/cam1/steps/state"
    assert command_name("cctv/cam1/steps/set") == "set_steps" and command_name("cctv/cam1/enhance/set") == "enhance"
    assert command_name("cctv/cam1/cmd/set_steps") == "set_steps" and command_name("cctv/fleet/restart/set") == "restart"


def test_home_assistants_command_templates_make_valid_commands():
    messages = discovery_messages("homeassistant", Topics("cctv", "cam1"), "0.2.0", [2, 3, 4])
    number = messages["homeassistant/number/edge_agent_cam1/steps/config"]
    button = messages["homeassistant/button/edge_agent_cam1/restart/config"]
    router = CommandRouter({}, max_age_s=60)
    steps = router.parse("set_steps", render(number["command_template"], 3.0))
    assert steps.args == {"steps": 3} and steps.id.startswith("ha-")
    assert router.parse("restart", render(button["command_template"], "PRESS")).args == {}


# -- on a real broker, against the real agent ----------------------------------
@pytest.fixture()
def agent(tiny_bundle, tmp_path, broker):
    rec = Recorder(broker.port)
    proc = start_agent(agent_config(tmp_path, tiny_bundle, broker.port))
    rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
    yield proc, rec, broker
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    rec.close()


def discovery(rec: Recorder) -> dict[str, tuple[dict, bool]]:
    with rec.lock:
        return {t: (json.loads(p), retained) for t, p, retained, _ in rec.messages
                if t.startswith("homeassistant/") and t.endswith("/config")}


def test_discovery_on_a_real_broker_birth_image_update_and_commands(agent):
    proc, rec, broker = agent
    rec.wait_for("homeassistant/update/edge_agent_cam1/model/config")
    sent = discovery(rec)
    assert len(sent) == 15
    for t, (payload, retained) in sent.items():
        assert ha_schema_errors(t, payload) == [], t
    # the birth message: Home Assistant restarted and asks again
    with rec.lock:
        rec.messages.clear()
    rec.publish("homeassistant/status", "online")
    rec.wait_for("homeassistant/update/edge_agent_cam1/model/config")
    assert len(discovery(rec)) == 15
    # retained state a late Home Assistant sees at once: picture, model, enhance, steps
    configs = Recorder(broker.port, "homeassistant/#")
    configs.wait_for("homeassistant/update/edge_agent_cam1/model/config")
    assert len(discovery(configs)) == 15 and all(retained for _, retained in discovery(configs).values())
    configs.close()
    late = Recorder(broker.port, f"{BASE}/#")
    assert late.wait_for(f"{BASE}/enhanced/snapshot")[:2] == b"\xff\xd8"
    update = json.loads(late.wait_for(f"{BASE}/model/update"))
    assert update["installed_version"] == update["latest_version"] and update["in_progress"] is False
    assert late.wait_for(f"{BASE}/enhance/state") == b"ON" and late.wait_for(f"{BASE}/steps/state") == b"2"
    late.close()
    # Home Assistant's own payloads on the Frigate-style topics
    rec.publish(f"{BASE}/enhance/set", "OFF")
    rec.wait_for(f"{BASE}/enhance/state", lambda p: p == b"OFF")
    rec.wait_for(f"{BASE}/state/enhance", lambda p: p == b"OFF")  # the older topic, still published
    number = discovery(rec)["homeassistant/number/edge_agent_cam1/steps/config"][0]
    rec.publish(number["command_topic"], render(number["command_template"], 3))
    rec.wait_for(f"{BASE}/steps/state", lambda p: p == b"3", timeout=60)
    rec.publish(f"{BASE}/cmd/enhance", "ON")  # the older command topic still works
    rec.wait_for(f"{BASE}/enhance/state", lambda p: p == b"ON")
    assert proc.poll() is None
