"""`edge-agent config describe`: every key with its type, default (or
"required"), allowed range or choices and help, derived from the pydantic
models; as text and as JSON (the key map and the JSON Schema)."""
from __future__ import annotations

import json

from edge_agent.config import AgentConfig, describe_config

from test_cli_footage import run_cli


def test_describe_lists_every_key_with_type_default_and_range():
    r = run_cli("config", "describe", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    keys, schema = out["keys"], out["schema"]
    documented = {line.split(":", 1)[0] for line in describe_config()}
    assert documented == set(keys)
    assert keys["mqtt.port"] == {"type": "int", "help": "broker port", "default": 1883, "range": "1-65535"}
    assert keys["outputs.snapshot_quality"]["range"] == "1-100" and keys["camera.watchdog_s"]["range"] == "> 0"
    assert "default" not in keys["camera.source"] and keys["camera"]["type"] == "section"
    assert keys["model.precision"]["type"].startswith("one of:") and "int8" in keys["model.precision"]["type"]
    assert "Home Assistant" in keys["mqtt.device_id"]["allowed"] and keys["updates.auto_install"]["default"] is True
    assert all(e["help"] for e in keys.values()), [k for k, e in keys.items() if not e["help"]]
    assert schema == json.loads(json.dumps(AgentConfig.model_json_schema()))
    port = schema["$defs"]["MqttConfig"]["properties"]["port"]
    assert (port["minimum"], port["maximum"]) == (1, 65535) and schema["additionalProperties"] is False
    text = run_cli("config", "describe").stdout
    assert "mqtt.port  (int, 1-65535; default 1883)" in text and "camera.source  (str; required)" in text
    assert "camera.watchdog_s  (float, > 0; default 10.0)" in text
    assert "mqtt.device_id  (str or null, allowed: letters, digits, '_' and '-'" in text


def test_describe_survives_a_closed_pipe():
    import subprocess
    import sys

    from conftest import ROOT
    r = subprocess.run(f"{sys.executable} -m edge_agent config describe | head -1", shell=True, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr and r.stdout.count("\n") == 1
