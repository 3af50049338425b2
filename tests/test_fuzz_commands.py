"""Property-based fuzzing (hypothesis) of every command and of the update
offer through the agent's own router: no input escapes as an exception,
every one gets a reply, and the agent still answers afterwards.

At least 10,000 inputs in all (``FUZZ_EXAMPLES`` per command over 7
commands, plus the offer and the raw-bytes runs); the count is asserted at
the end."""
from __future__ import annotations

import base64
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.agent.handlers import COMMANDS
from edge_agent.agent.loop import Agent
from edge_agent.config import parse_config
from edge_agent.errors import CommandError
from edge_agent.updates.protocol import Offer
from edge_agent.updates.signing import generate_keypair

FUZZ_EXAMPLES = 1500
COUNT = {"inputs": 0}
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=10), c, max_size=5),
                      max_leaves=25)
arg_keys = st.sampled_from(["enabled", "steps", "metadata", "signatures", "manifest", "signature", "transfer", "x"])
args = values | st.dictionaries(arg_keys, values, max_size=6)
times = (st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.just(None) | st.text(max_size=5)
         | st.floats(min_value=-1e6, max_value=1e6).map(lambda d: time.time() + d))
envelopes = st.fixed_dictionaries({"id": st.text(max_size=200) | st.integers() | st.none(), "issued_at": times},
                                  optional={"expires_at": times, "args": args, "target": values, "auth": values})


def encode(body: object) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


hostile = st.sampled_from([
    b"[" * 100_000, b"{\"a\":" * 50_000, b"{\"id\":\"x\",\"issued_at\":" + b"9" * 5000 + b"}",
    b"{\"id\":\"x\",\"issued_at\":1e400}", b"{\"id\":\"x\",\"issued_at\":NaN}", b"\xff\xfe", b"", b"null", b"ON",
    b"{\"id\":\"x\",\"issued_at\":4102444800}", b"{\"id\":" + b"\"" + b"a" * 300_000 + b"\"}",
])
payloads = envelopes.map(encode) | st.binary(max_size=200) | hostile | values.map(encode)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    _, pub = generate_keypair(folder / "keys")
    cfg = parse_config({"camera": {"source": str(folder / "none.avi")}, "state_dir": str(folder / "state"),
                        "model": {"backend": "onnxruntime", "precision": "fp32"},
                        "updates": {"trusted_keys": [str(pub)]}})
    return Agent(cfg)


def check_reply(agent: Agent, name: str, payload: bytes) -> None:
    COUNT["inputs"] += 1
    reply = agent.router.handle(name, payload)  # must not raise
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool)
    json.dumps(reply, default=str)
    agent.exit_code = None  # a fuzzed `restart` that got through is fine; keep the agent running
    if agent.updates.job is not None:
        agent.updates.job.join(timeout=60)
        agent.updates.result = None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_fuzz_every_command(agent, name):
    @FUZZ
    @given(payloads)
    def run(payload: bytes) -> None:
        check_reply(agent, name, payload)

    run()


@FUZZ
@given(st.dictionaries(st.sampled_from(["metadata", "signatures", "manifest", "signature", "transfer"]),
                       values | st.binary(max_size=100).map(lambda b: base64.b64encode(b).decode()), max_size=5)
       | st.fixed_dictionaries({"metadata": values.map(lambda v: base64.b64encode(encode(v)).decode()),
                                "signatures": values, "manifest": st.just("e30="), "signature": st.just("e30=")}))
def test_fuzz_the_update_offer(args):
    COUNT["inputs"] += 1
    try:
        Offer.parse(args)
    except CommandError:
        pass


@FUZZ
@given(st.fixed_dictionaries({"_type": st.just("edge-agent/update"), "spec": st.just(1)},
                             optional={k: values for k in ("version_code", "archive_sha256", "archive_size", "transfer",
                                                           "devices", "issued_at", "expires_at", "floor", "downgrade",
                                                           "unpacked_size", "file_count")}))
def test_fuzz_the_offer_metadata(meta):
    COUNT["inputs"] += 1
    args = {"metadata": base64.b64encode(encode(meta)).decode(), "signatures": [{"key_id": "a", "signature": "AA=="}],
            "manifest": "e30=", "signature": "e30="}
    try:
        Offer.parse(args)
    except CommandError:
        pass


def test_the_agent_still_answers_and_enough_inputs_ran(agent):
    reply = agent.router.handle("health", encode({"id": "after-fuzz", "issued_at": time.time()}))
    assert reply["ok"] and "processed_frames" in reply["result"]
    print(f"fuzzed inputs: {COUNT['inputs']}")
    assert COUNT["inputs"] >= 10_000
