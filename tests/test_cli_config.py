"""`edge-agent config describe`: every key with its type and default (or
"required"), as text and as JSON."""
from __future__ import annotations

import json

from edge_agent.config import describe_config

from test_cli_footage import run_cli


def test_describe_lists_every_key_with_type_and_default():
    r = run_cli("config", "describe", "--json")
    assert r.returncode == 0, r.stderr
    keys = json.loads(r.stdout)
    documented = {line.split(":", 1)[0] for line in describe_config()}
    assert documented == set(keys)
    assert keys["mqtt.port"] == {"type": "int", "help": keys["mqtt.port"]["help"], "default": 1883}
    assert "default" not in keys["camera.source"] and keys["camera"]["type"] == "section"
    assert keys["model.precision"]["type"].startswith("one of:") and "int8" in keys["model.precision"]["type"]
    text = run_cli("config", "describe").stdout
    assert "mqtt.port  (int; default 1883)" in text and "camera.source  (str; required)" in text


def test_describe_survives_a_closed_pipe():
    import subprocess
    import sys

    from conftest import ROOT
    r = subprocess.run(f"{sys.executable} -m edge_agent config describe | head -1", shell=True, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr and r.stdout.count("\n") == 1
