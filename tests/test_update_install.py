"""Home Assistant's update entity wired to the signed fleet update
(``updates.auto_install: false``): a verified offer is staged, not switched
to; the entity shows it as the latest version with its release summary; an
``install`` on ``update/set`` installs it by the same path (smoke test, A/B
trial, rollback) with progress; an install with nothing staged is refused;
the install trigger obeys the command signing policy. First through the
update controller (no MQTT), then on a real broker against the real agent."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from edge_agent.errors import BundleError, CommandError
from edge_agent.mqtt.commands import CommandAuth, CommandRouter, command_payload
from edge_agent.mqtt.topics import Topics, command_name
from edge_agent.updates.fleet import Broker as FleetBroker
from edge_agent.updates.fleet import push
from edge_agent.updates.install import failure_reason, report_outcome
from edge_agent.updates.signing import generate_keypair
from edge_agent.updates.store import ModelStore

from mqtt_fixtures import Recorder
from test_agent import BASE, DEVICE, agent_config, start_agent
from update_kit import PACKAGED_VERSION, booted_version, controller, new_version, run_offer, url_offer
from update_kit import keys, versions  # noqa: F401  (fixtures)


# -- the update controller -------------------------------------------------------
def test_a_staged_offer_waits_survives_a_restart_and_installs_on_command(tmp_path, keys, versions):
    state = tmp_path / "state"
    ctrl, hooks = controller(state, [keys[1]], auto_install=False, rollback_frames=2)
    args, _ = url_offer(versions[4], [keys[0]], release_summary="Sharper plates at night")
    outcome = run_offer(ctrl, hooks, args)
    assert outcome["stage"] == "staged" and outcome["version_code"] == 4
    assert hooks.enhancer.bundle.version_code == PACKAGED_VERSION  # not switched to
    assert hooks.staged[-1]["version"] == "0.4.0" and hooks.staged[-1]["summary"] == "Sharper plates at night"
    assert booted_version(state) == PACKAGED_VERSION and ModelStore(state).trial() is None
    # a restart keeps it staged (its offer is remembered: it could not be offered again)
    ctrl, hooks = controller(state, [keys[1]], auto_install=False, rollback_frames=2)
    assert hooks.staged == [ModelStore(state).staged()] and ctrl.staged["version_code"] == 4
    ctrl.request = "ha"
    assert ctrl.install() == {"installing": "0.4.0", "version_code": 4}
    ctrl.job.join(timeout=300)
    ctrl.poll()
    stages = [body["stage"] for req, body in hooks.replies if req == "ha"]
    assert stages == ["installing", "smoke-testing", "installed"], stages
    assert hooks.enhancer.bundle.version_code == 4 and ModelStore(state).trial() is not None  # on trial
    assert hooks.staged[-1] is None and ModelStore(state).staged() is None
    for _ in range(2):  # the same A/B trial as an update installed on arrival: failing frames roll back
        ctrl.frame_done(ok=False)
    assert hooks.results[-1]["stage"] == "rolled back" and hooks.enhancer.bundle.version_code == PACKAGED_VERSION


def test_install_with_nothing_staged_is_refused_and_auto_install_is_unchanged(tmp_path, keys, versions):
    ctrl, hooks = controller(tmp_path / "auto", [keys[1]])  # auto_install: true (the default)
    with pytest.raises(CommandError, match="auto_install is true"):
        ctrl.install()
    outcome = run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])
    assert outcome["stage"] == "installed" and hooks.enhancer.bundle.version_code == 4 and hooks.staged == [None]
    ctrl, hooks = controller(tmp_path / "manual", [keys[1]], auto_install=False)
    with pytest.raises(CommandError, match="no update is staged"):
        ctrl.install()


def test_a_newer_offer_replaces_the_staged_one_an_older_is_refused(tmp_path, keys, versions):
    ctrl, hooks = controller(tmp_path / "state", [keys[1]], auto_install=False)
    assert run_offer(ctrl, hooks, url_offer(versions[5], [keys[0]])[0])["stage"] == "staged"
    older = run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])
    assert not older["ok"] and "not above the staged 5" in older["error"]
    assert ctrl.staged["version_code"] == 5 and hooks.enhancer.bundle.version_code == PACKAGED_VERSION


def test_a_staged_bundle_that_fails_verification_at_install_is_refused_and_dropped(tmp_path, keys, versions):
    state = tmp_path / "state"
    ctrl, hooks = controller(state, [keys[1]], auto_install=False)
    assert run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])["stage"] == "staged"
    model = ModelStore(state).root / ctrl.staged["bundle"] / "model_fp32.onnx"
    model.write_bytes(model.read_bytes()[:-4] + b"evil")  # the disk changed since it was verified
    ctrl.request = "ha"
    ctrl.install()
    ctrl.job.join(timeout=300)
    ctrl.poll()
    assert hooks.results[-1]["stage"] == "refused" and "sha256" in hooks.results[-1]["error"]
    assert hooks.enhancer.bundle.version_code == PACKAGED_VERSION and ctrl.staged is None


def test_both_jobs_word_a_failure_in_one_place():
    """An offer's job and a staged install report failures through the same
    mapping: a refusal as raised, another user error as a refusal, anything
    else as a named failure; none escapes the job's thread."""
    assert failure_reason(CommandError("update download cancelled")) == "update download cancelled"
    assert failure_reason(BundleError("model.onnx: sha256 mismatch")) == "update refused: model.onnx: sha256 mismatch"
    assert failure_reason(OSError("disk full")) == "update failed: OSError: disk full"
    outcomes = []

    def broken() -> tuple:
        raise ZeroDivisionError("division by zero")

    report_outcome(broken, lambda *outcome: outcomes.append(outcome))
    report_outcome(lambda: ("bundle", "enhancer"), lambda *outcome: outcomes.append(outcome))
    assert outcomes == [(None, None, "update failed: ZeroDivisionError: division by zero"),
                        ("bundle", "enhancer", None)]


# -- the install trigger and the command signing policy ---------------------------
def test_update_set_is_the_install_command_and_obeys_the_signing_policy():
    topics = Topics("cctv", "cam1")
    assert topics.update_set == "cctv/cam1/update/set" and command_name(topics.update_set) == "install_update"
    assert command_name(topics.command("update")) == "update"  # the fleet's signed offer keeps its topic
    open_router = CommandRouter({}, max_age_s=60)  # no mqtt.command_keys: Home Assistant's plain payload runs
    assert open_router.parse("install_update", b"install").args == {}
    signed = CommandRouter({}, max_age_s=60, auth=CommandAuth([], {"cam1"}, {"health"}))
    with pytest.raises(CommandError, match="needs 'auth' signed by a fleet command key.*open_commands"):
        signed.parse("install_update", b"install")
    with pytest.raises(CommandError, match="signature"):  # an envelope without a signature: refused too
        signed.parse("install_update", json.dumps(command_payload("i1", {})).encode())
    opened = CommandRouter({}, max_age_s=60, auth=CommandAuth([], {"cam1"}, {"health", "install_update"}))
    assert opened.parse("install_update", b"install").args == {}


# -- on a real broker, against the real agent --------------------------------------
def start_box(tmp_path, bundle, broker, fleet_pub, **updates):
    config = agent_config(tmp_path, bundle, broker.port)
    cfg = yaml.safe_load(config.read_text())
    cfg["updates"] = {"trusted_keys": [str(fleet_pub)], "url_schemes": ["https", "file"], **updates}
    cfg["outputs"]["segments"]["enabled"] = False
    config.write_text(yaml.safe_dump(cfg))
    rec = Recorder(broker.port)
    proc = start_agent(config)
    rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
    return proc, rec


@pytest.fixture()
def box_keys(tmp_path):
    return generate_keypair(tmp_path / "keys", "fleet")


def ha_install(rec: Recorder, config: dict) -> dict:
    """Press Install as Home Assistant does; the command's reply to this press
    (the install's progress replies, on the same topic, may come before it)."""
    topic = f"{BASE}/reply/install_update"
    before = len(rec.payloads(topic))
    rec.publish(config["command_topic"], config["payload_install"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = [json.loads(p) for p in rec.payloads(topic)[before:]]
        if reply := next((a for a in answers if "stage" not in a), None):
            return reply
        time.sleep(0.05)
    raise AssertionError("no reply to the install")


def entity(rec: Recorder, predicate, timeout: float = 120.0) -> dict:
    return rec.wait_json(f"{BASE}/model/update", predicate, timeout=timeout)


def test_home_assistant_installs_a_staged_update_on_a_real_broker(tiny_bundle, tmp_path, broker, box_keys):
    key, pub = box_keys
    proc, rec = start_box(tmp_path, tiny_bundle, broker, pub, auto_install=False)
    try:
        config = json.loads(rec.wait_for("homeassistant/update/edge_agent_cam1/model/config"))
        assert config["command_topic"] == f"{BASE}/update/set" and config["payload_install"] == "install"
        # install with nothing staged: refused with a reply, the agent goes on
        assert "no update is staged" in ha_install(rec, config)["error"]
        v2 = new_version(tmp_path / "v2", key, 2, src=tiny_bundle)
        result = push(v2, FleetBroker("127.0.0.1", broker.port), "cctv", DEVICE, timeout=120, keys=[key],
                      summary="Model v2: less noise")
        assert result.final(DEVICE)["stage"] == "staged", result.replies
        shown = entity(rec, lambda d: d["latest_version"] == "0.2.0" and not d["in_progress"])
        assert shown["installed_version"] == "0.1.0" and shown["release_summary"] == "Model v2: less noise"
        assert json.loads(rec.payloads(f"{BASE}/model")[-1])["version_code"] == 1  # not switched to
        late = Recorder(broker.port, f"{BASE}/model/update")  # retained: a restarted Home Assistant sees it at once
        assert json.loads(late.wait_for(f"{BASE}/model/update"))["latest_version"] == "0.2.0"
        late.close()
        # Home Assistant's Install
        pressed = len(rec.payloads(f"{BASE}/model/update"))
        assert ha_install(rec, config)["result"]["version_code"] == 2
        rec.wait_for(f"{BASE}/model", lambda p: json.loads(p)["version_code"] == 2)
        busy = next(d for d in map(json.loads, rec.payloads(f"{BASE}/model/update")[pressed:]) if d["in_progress"])
        assert busy["latest_version"] == "0.2.0" and 0 < busy["update_percentage"] < 100
        rec.wait_json(f"{BASE}/reply/install_update", lambda d: d.get("stage") == "installed")
        entity(rec, lambda d: d["installed_version"] == d["latest_version"] == "0.2.0" and not d["in_progress"])
        rec.wait_json(f"{BASE}/enhanced", lambda d: d["model_version"] == "0.2.0")
        assert "no update is staged" in ha_install(rec, config)["error"]  # nothing staged any more
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
        rec.close()


def test_auto_install_installs_on_arrival_and_refuses_an_install_command(tiny_bundle, tmp_path, broker, box_keys):
    key, pub = box_keys
    proc, rec = start_box(tmp_path, tiny_bundle, broker, pub)  # auto_install: true (the default)
    try:
        v2 = new_version(tmp_path / "v2", key, 2, src=tiny_bundle)
        result = push(v2, FleetBroker("127.0.0.1", broker.port), "cctv", DEVICE, timeout=120, keys=[key])
        assert result.final(DEVICE)["stage"] == "installed", result.replies
        entity(rec, lambda d: d["installed_version"] == d["latest_version"] == "0.2.0")
        refused = ha_install(rec, {"command_topic": f"{BASE}/update/set", "payload_install": "install"})
        assert not refused["ok"] and "auto_install is true" in refused["error"] and proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
        rec.close()
