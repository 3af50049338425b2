"""`edge-agent fleet command` against a real agent on a real Mosquitto: the
box requires signed commands (``mqtt.command_keys``), so a command signed by
the commands role changes its state, an unsigned one or one signed by another
key is refused with the box's reason, an open command needs no signature;
user errors are one line with exit 2, a silent box a clear error with exit 1."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import ROOT
from edge_agent.cli import main
from edge_agent.mqtt.commands import NOT_TARGETED
from edge_agent.mqtt.topics import Topics
from edge_agent.updates.fleet import Broker as FleetBroker
from edge_agent.updates.fleet import CommandResult, _command_client, send_command
from edge_agent.updates.signing import generate_keypair
from mqtt_fixtures import MOSQUITTO, Broker, Recorder
from test_agent import BASE, DEVICE, agent_config, start_agent


@pytest.fixture(scope="module")
def box(tiny_bundle, tmp_path_factory):
    """One agent for the module (starting one is slow on a small box), trusting the commands key."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (tests/run.sh installs it)")
    folder = tmp_path_factory.mktemp("fleet-command")
    keys = {role: generate_keypair(folder / "keys", role) for role in ("commands", "updates")}
    broker = Broker(folder).start()
    config = agent_config(folder, tiny_bundle, broker.port, command_keys=[str(keys["commands"][1])],
                          groups=["lobby"])
    cfg = yaml.safe_load(config.read_text())
    cfg["outputs"]["segments"]["enabled"] = False
    config.write_text(yaml.safe_dump(cfg))
    rec = Recorder(broker.port)
    proc = start_agent(config)
    try:
        rec.wait_for(f"{BASE}/status", lambda p: p == b"online", timeout=120)
        yield {"port": broker.port, "rec": rec, "key": keys["commands"][0], "other": keys["updates"][0],
               "folder": folder}
    finally:
        proc.kill()
        proc.wait(timeout=10)
        rec.close()
        broker.stop()


def fleet(box, capsys, *argv: str) -> tuple[int, str, str]:
    """Run `edge-agent fleet command ARGV...` in this process; (exit code, stdout, stderr)."""
    code = main(["fleet", "command", "--host", "127.0.0.1", "--port", str(box["port"]), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_signed_command_changes_the_state(box, capsys):
    code, out, err = fleet(box, capsys, "set_steps", "--arg", "steps=3", "--device", DEVICE, "--key", str(box["key"]))
    assert (code, out.strip(), err) == (0, f'{DEVICE}: ok {{"steps": 3}}', "")
    box["rec"].wait_json(f"{BASE}/health", lambda d: d["steps"] == 3, timeout=30)
    # the box's group and the fleet are targets too; a group the box is not in is not
    code, out, _ = fleet(box, capsys, "enhance", "--arg", "enabled=false", "--group", "lobby", "--key", str(box["key"]))
    assert code == 0 and out.strip() == f'{DEVICE}: ok {{"enabled": false}}'
    box["rec"].wait_for(f"{BASE}/state/enhance", lambda p: p == b"OFF", timeout=30)
    code, out, _ = fleet(box, capsys, "enhance", "--arg", "enabled=true", "--fleet", "--key", str(box["key"]), "--json")
    assert code == 0 and json.loads(out)["replies"][DEVICE]["result"] == {"enabled": True}
    code, out, err = fleet(box, capsys, "enhance", "--arg", "enabled=false", "--group", "yard", "--key", str(box["key"]),
                           "--timeout", "3")
    assert code == 1 and out == "" and "no answer from group yard" in err and "not in it" in err


def test_a_box_outside_the_group_answers_with_the_not_targeted_code(box):
    result = send_command(FleetBroker("127.0.0.1", box["port"]), "cctv", "enhance", {"enabled": False}, group="yard",
                          key=box["key"], timeout=3)
    assert result.replies == {} and result.outside[DEVICE]["code"] == NOT_TARGETED
    assert "'yard' is not this box" in result.outside[DEVICE]["error"]  # the human-readable reason stays


def test_the_sender_sorts_replies_by_the_code_not_the_message():
    """A box's refusal counts as "not in the group" only by its code, only
    for a group command; a refusal worded alike but without the code is an
    answer (shown as an error), so rewording the message changes nothing."""
    def sorted_replies(body: dict, group: bool) -> CommandResult:
        result = CommandResult("c1")
        client = _command_client(FleetBroker("127.0.0.1", 1), Topics("cctv", "+"), "enhance", result, group,
                                 threading.Event())
        message = SimpleNamespace(topic=Topics("cctv", DEVICE).reply("enhance"), payload=json.dumps(body).encode())
        client.on_message(client, None, message)
        return result

    coded = {"id": "c1", "ok": False, "error": "reworded: not for me", "code": NOT_TARGETED}
    assert sorted_replies(coded, group=True).outside == {DEVICE: coded}
    assert sorted_replies(coded, group=False).replies == {DEVICE: coded}  # one box, addressed by name: its answer
    worded = {"id": "c1", "ok": False, "error": "command target 'yard' is not this box; allowed: ['fleet']"}
    assert sorted_replies(worded, group=True).replies == {DEVICE: worded}


def test_unsigned_and_wrongly_signed_commands_are_refused_with_the_box_reason(box, capsys):
    code, out, _ = fleet(box, capsys, "set_steps", "--arg", "steps=4", "--device", DEVICE)
    assert code == 1 and out.startswith(f"{DEVICE}: error: ") and "needs 'auth' signed by a fleet command key" in out
    code, out, _ = fleet(box, capsys, "set_steps", "--arg", "steps=4", "--device", DEVICE, "--key", str(box["other"]))
    assert code == 1 and "does not verify under a trusted command key" in out
    code, out, _ = fleet(box, capsys, "set_steps", "--arg", "steps=9", "--device", DEVICE, "--key", str(box["key"]))
    assert code == 1 and "steps" in out  # signed, but the bundle has no 9-step sampler: the handler's refusal
    box["rec"].wait_json(f"{BASE}/health", timeout=30)
    assert json.loads(box["rec"].payloads(f"{BASE}/health")[-1])["steps"] != 4


def test_an_open_command_needs_no_signature(box, capsys):
    code, out, _ = fleet(box, capsys, "health", "--device", DEVICE, "--json")
    reply = json.loads(out)
    assert code == 0 and reply["replies"][DEVICE]["ok"] and "latency_p95_ms" in reply["replies"][DEVICE]["result"]


def test_no_answer_is_a_clear_error(box, capsys):
    code, out, err = fleet(box, capsys, "health", "--device", "cam-gone", "--timeout", "1")
    assert (code, out) == (1, "") and err.strip() == "error: no answer from cam-gone within 1 s"


@pytest.mark.parametrize("argv, expected", [
    (["--arg", "steps"], "--arg 'steps': must be KEY=VALUE"),
    (["--arg", "steps=3", "--arg", "steps=4"], "'steps' is given twice"),
    (["--key", "/nonexistent/commands.key"], "signing key /nonexistent/commands.key cannot be read"),
    (["--expires-in", "7200"], "--expires-in 7200 is not allowed"),
])
def test_user_errors_are_one_line_and_exit_2(argv, expected):
    r = subprocess.run([sys.executable, "-m", "edge_agent", "fleet", "command", "set_steps", "--device", DEVICE,
                        "--host", "127.0.0.1", "--port", "1", *argv], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: ") and expected in r.stderr


def test_arg_values_are_json_when_they_parse():
    from edge_agent.cli.fleet import command_args
    assert command_args(["steps=3", "enabled=false", "name=cam 1", "x=NaN", 'q="7"']) == \
        {"steps": 3, "enabled": False, "name": "cam 1", "x": "NaN", "q": "7"}
