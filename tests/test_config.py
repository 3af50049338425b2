"""The agent's config tree (pydantic): good values and defaults, every
problem of a file reported at once with its key path and what is allowed,
Home Assistant node ids, referenced files checked unless told not to, and
the CLI's `config validate` (exit codes, no traceback)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from edge_agent.config import ConfigError, parse_config

from conftest import ROOT

GOOD = {"camera": {"source": "rtsp://cam/stream"}, "mqtt": {"host": "broker", "device_id": "gate-1"}}
EXAMPLE = ROOT / "systemd" / "agent.example.yaml"


def with_(**changes):
    cfg = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def problems(raw, **kw) -> list[str]:
    """The problem lines of the ConfigError that ``raw`` raises."""
    with pytest.raises(ConfigError) as err:
        parse_config(raw, **kw)
    lines = str(err.value).splitlines()
    return [line.strip() for line in lines[1:]] if len(lines) > 1 else lines


def validate(*args):
    return subprocess.run([sys.executable, "-m", "edge_agent", "config", "validate", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_good_config_and_defaults():
    cfg = parse_config(GOOD)
    assert cfg.mqtt.prefix == "cctv" and cfg.model.precision == "int8" and cfg.camera.watchdog_s == 10
    assert cfg.updates.auto_install is True and cfg.updates.url_schemes == ["https"] and cfg.mqtt.tls is None
    odd = parse_config(with_(camera__source=0, mqtt__protocol=5, camera__watchdog_s=3))  # YAML numbers
    assert odd.camera.source == "0" and odd.mqtt.protocol == "5" and odd.camera.watchdog_s == 3.0


@pytest.mark.parametrize("raw, message", [
    (with_(camera__sourc="x"), "camera.sourc: unknown key; allowed: source, loop, fps_limit,"),
    (with_(mqtt__tls={"ca_fil": "x"}), "mqtt.tls.ca_fil: unknown key; allowed: ca_file, cert_file, key_file, insecure"),
    (with_(model__precision="int4"), "model.precision: 'int4' is not allowed; allowed: int8, fp32"),
    (with_(mqtt__port=70000), "mqtt.port: must be 1-65535, got 70000"),
    (with_(mqtt__port="1883"), "mqtt.port: must be a whole number, got '1883'"),
    (with_(camera__watchdog_s=0), "camera.watchdog_s: must be > 0, got 0"),
    (with_(mqtt__prefix="a/b"), "mqtt.prefix: 'a/b' is not allowed; allowed: letters, digits, '_' and '-'"),
    (with_(mqtt__device_id="cam.1"), "mqtt.device_id: 'cam.1' is not allowed; allowed: letters, digits, '_' and '-' "
                                     "(a node_id of Home Assistant's MQTT discovery)"),
    (with_(mqtt__device_id=""), "mqtt.device_id: '' is not allowed"),
    (with_(camera__reconnect_max_s=0.5), "camera.reconnect_max_s: must be >= reconnect_initial_s (1.0), got 0.5"),
    (with_(mqtt__password_env="A", mqtt__password_credential="b"), "mqtt.password_credential: set password_env or "
                                                                    "password_credential, not both"),
    (with_(mqtt__tls={"cert_file": "/nonexistent"}), "mqtt.tls.cert_file: file /nonexistent does not exist"),
    (with_(outputs__snapshot_quality=0), "outputs.snapshot_quality: must be 1-100, got 0"),
    (with_(updates__url_schemes=["https", "ftp"]), "updates.url_schemes[1]: 'ftp' is not allowed; allowed: https"),
    (with_(updates__threshold=2), "updates.threshold: must be at most 1 (the number of trusted keys"),
    (with_(enhance="yes"), "enhance: must be true or false, got 'yes'"),
    (with_(camera=None), "camera: must be a mapping, got None"),
    ({"mqtt": {"host": "b"}}, "camera: missing (required): the frame source"),
    ([1, 2], "config: must be a mapping"),
])
def test_bad_values_name_their_key(raw, message):
    found = problems(raw)
    assert len(found) == 1 and found[0].startswith(message), found


def test_every_problem_is_reported_at_once():
    raw = with_(camera__fps=3, mqtt__port=70000, mqtt__device_id="cam.1", model__precision="int4",
                updates__url_schemes=["ftp"], enhance="yes", outputs__snapshot_quality=101)
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    lines = str(err.value).splitlines()
    assert lines[0] == "7 problems in the config:"
    paths = [line.strip().split(":", 1)[0] for line in lines[1:]]
    assert sorted(paths) == sorted(["camera.fps", "mqtt.port", "mqtt.device_id", "model.precision",
                                    "updates.url_schemes[0]", "enhance", "outputs.snapshot_quality"])
    assert "  mqtt.port: must be 1-65535, got 70000" in lines


def test_referenced_files_are_checked_unless_told_not_to(tmp_path):
    raw = with_(mqtt__tls={"ca_file": "/nonexistent/ca.crt"}, mqtt__command_keys=["/nonexistent/c.pub"],
                updates__trusted_keys=["/nonexistent/u1.pub", "/nonexistent/u2.pub"], updates__threshold=2)
    assert problems(raw) == ["mqtt.tls.ca_file: file /nonexistent/ca.crt does not exist",
                             "mqtt.command_keys[0]: file /nonexistent/c.pub does not exist",
                             "updates.trusted_keys[0]: file /nonexistent/u1.pub does not exist",
                             "updates.trusted_keys[1]: file /nonexistent/u2.pub does not exist"]
    cfg = parse_config(raw, files=False)
    assert cfg.updates.threshold == 2 and cfg.mqtt.tls.ca_file == "/nonexistent/ca.crt"
    (tmp_path / "ca.crt").write_text("x")
    assert parse_config(with_(mqtt__tls={"ca_file": str(tmp_path / "ca.crt")})).mqtt.tls.ca_file.endswith("ca.crt")
    # rules between keys are still checked without the files
    assert problems(with_(mqtt__tls={"cert_file": "/x.crt"}), files=False) == [
        "mqtt.tls: cert_file and key_file go together: set both (mutual TLS) or neither"]


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
    r = validate(good)
    assert r.returncode == 0 and r.stdout.startswith("ok: ") and r.stderr == ""
    r = validate(bad)
    assert r.returncode == 2 and r.stderr.strip() == "error: camera.fps: unknown key; allowed: source, loop, " \
        "fps_limit, reconnect_initial_s, reconnect_max_s, watchdog_s"
    (tmp_path / "broken.yaml").write_text("camera: [unclosed")
    r = validate(tmp_path / "broken.yaml")
    assert r.returncode == 2 and "not valid YAML at line" in r.stderr and "Traceback" not in r.stderr
    r = validate(tmp_path / "absent.yaml")
    assert r.returncode == 2 and "cannot be read" in r.stderr and "Traceback" not in r.stderr


def test_validate_command_lists_every_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_(camera__fps=3, mqtt__port=70000, mqtt__device_id="cam.1",
                                        mqtt__command_keys=["/nonexistent/c.pub"])))
    r = validate(bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.splitlines() == [
        "error: 4 problems in the config:",
        "  camera.fps: unknown key; allowed: source, loop, fps_limit, reconnect_initial_s, reconnect_max_s, watchdog_s",
        "  mqtt.port: must be 1-65535, got 70000",
        "  mqtt.device_id: 'cam.1' is not allowed; allowed: letters, digits, '_' and '-' (a node_id of Home "
        "Assistant's MQTT discovery)",
        "  mqtt.command_keys[0]: file /nonexistent/c.pub does not exist"]
    r = validate("--no-files", bad)
    assert r.returncode == 2 and r.stderr.startswith("error: 3 problems") and "command_keys" not in r.stderr


def test_run_refuses_a_bad_config_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_(mqtt__port=0, camera__watchdog_s=-1)))
    r = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "  camera.watchdog_s: must be > 0, got -1" in r.stderr and "  mqtt.port: must be 1-65535, got 0" in r.stderr


def test_example_config_is_valid_apart_from_its_files():
    r = validate("--no-files", EXAMPLE)
    assert r.returncode == 0 and r.stdout.startswith("ok: ") and "files not checked" in r.stdout, r.stderr
    cfg = parse_config(yaml.safe_load(EXAMPLE.read_text()), files=False)
    assert cfg.outputs.segments.enabled and len(cfg.updates.trusted_keys) == 2
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.ca_file: file /etc/edge-agent/ca\.crt does not exist"):
        parse_config(yaml.safe_load(EXAMPLE.read_text()))  # the key files live on a box, not here
