from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from edge_agent.config import ConfigError, parse_config

from conftest import ROOT

GOOD = {"camera": {"source": "rtsp://cam/stream"}, "mqtt": {"host": "broker", "device_id": "gate-1"}}


def with_(**changes):
    cfg = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def test_good_config_and_defaults():
    cfg = parse_config(GOOD)
    assert cfg.mqtt.prefix == "cctv" and cfg.model.precision == "int8" and cfg.camera.watchdog_s == 10


@pytest.mark.parametrize("raw, message", [
    (with_(camera__sourc="x"), "unknown key camera.sourc; allowed: source"),
    (with_(mqtt__tls={"ca_fil": "x"}), "unknown key mqtt.tls.ca_fil"),
    (with_(model__precision="int4"), "model.precision 'int4' is not allowed; allowed: int8, fp32"),
    (with_(mqtt__port=70000), "mqtt.port must be 1-65535"),
    (with_(mqtt__port="1883"), "mqtt.port must be a number"),
    (with_(camera__watchdog_s=0), "camera.watchdog_s must be > 0"),
    (with_(mqtt__prefix="a/b"), "mqtt.prefix 'a/b' must be non-empty"),
    (with_(camera__reconnect_max_s=0.5), "reconnect_max_s must be >= reconnect_initial_s"),
    (with_(mqtt__password_env="A", mqtt__password_credential="b"), "not both"),
    (with_(mqtt__tls={"cert_file": "/nonexistent"}), "cert_file and key_file go together"),
    (with_(outputs__snapshot_quality=0), "snapshot_quality must be 1-100"),
    (with_(enhance="yes"), "enhance must be true or false"),
    ({"mqtt": {"host": "b"}}, "missing key camera"),
])
def test_bad_values_name_their_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(raw)


def test_password_from_environment_or_credential(tmp_path, monkeypatch):
    cfg = parse_config(with_(mqtt__password_env="EDGE_MQTT_PW"))
    with pytest.raises(ConfigError, match="EDGE_MQTT_PW is not set"):
        cfg.mqtt.password()
    monkeypatch.setenv("EDGE_MQTT_PW", "s3cret")
    assert cfg.mqtt.password() == "s3cret"
    (tmp_path / "mqtt-password").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert parse_config(with_(mqtt__password_credential="mqtt-password")).mqtt.password() == "from-credential"


def test_validate_command(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(GOOD))
    bad.write_text(yaml.safe_dump(with_(camera__fps=3)))
    run = lambda f: subprocess.run([sys.executable, "-m", "edge_agent", "config", "validate", str(f)],  # noqa: E731
                                   capture_output=True, text=True, cwd=ROOT)
    assert run(good).returncode == 0
    r = run(bad)
    assert r.returncode == 2 and r.stderr.strip() == "error: unknown key camera.fps; allowed: source, loop, fps_limit, " \
        "reconnect_initial_s, reconnect_max_s, watchdog_s"
    (tmp_path / "broken.yaml").write_text("camera: [unclosed")
    r = run(tmp_path / "broken.yaml")
    assert r.returncode == 2 and "not valid YAML at line" in r.stderr and "Traceback" not in r.stderr


def test_example_config_is_valid_apart_from_its_files():
    raw = yaml.safe_load((ROOT / "systemd" / "agent.example.yaml").read_text())
    raw["mqtt"].pop("tls")
    raw["mqtt"].pop("command_keys")  # key files that exist on a box, not here
    raw["updates"].pop("trusted_keys")
    assert parse_config(raw).outputs.segments.enabled
