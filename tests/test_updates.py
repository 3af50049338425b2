"""Fleet model updates end to end: a real broker, a real agent process,
signed bundles by URL and by chunks, every refusal, kill -9 at every stage."""
from __future__ import annotations

import base64
import json
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from edge_agent.runtime.bundle import MANIFEST, load_bundle, pack_archive
from edge_agent.updates.fleet import Broker as FleetBroker
from edge_agent.updates.fleet import push, status
from edge_agent.updates.store import ModelStore
from edge_agent.updates.signing import generate_keypair, load_private_key, sign_bundle

import update_kit
from mqtt_fixtures import Recorder
from test_agent import BASE, DEVICE, agent_config, start_agent


@pytest.fixture()
def keys(tmp_path):
    return generate_keypair(tmp_path / "keys", "fleet"), generate_keypair(tmp_path / "keys", "rogue")


def new_version(src: Path, dst: Path, key: Path | None, version_code: int, edit=None) -> Path:
    """A copy of ``src`` as another version, optionally edited, re-hashed and signed."""
    return update_kit.new_version(dst, key, version_code, edit, src=src)


@pytest.fixture()
def box(tiny_bundle, tmp_path, broker, keys):
    (fleet_key, fleet_pub), _ = keys
    config = agent_config(tmp_path, tiny_bundle, broker.port)
    cfg = yaml.safe_load(config.read_text())
    cfg["updates"] = {"trusted_keys": [str(fleet_pub)], "rollback_frames": 3, "url_schemes": ["https", "file"]}
    cfg["outputs"]["segments"]["enabled"] = False
    config.write_text(yaml.safe_dump(cfg))
    state = {"proc": start_agent(config), "config": config}
    rec = Recorder(broker.port)
    rec.wait_for(f"{BASE}/status", lambda p: p == b"online")
    yield state, rec, FleetBroker("127.0.0.1", broker.port)
    if state["proc"].poll() is None:
        state["proc"].kill()
    state["proc"].wait(timeout=10)
    rec.close()


def push_raw(bundle: Path, fleet, **kw):
    """Push without the fleet tool's own checks: what a broken or malicious
    sender could offer, so that the box's checks are the ones tested."""
    import types

    from edge_agent.updates import fleet as fleet_module
    real_load = fleet_module.load_bundle
    fleet_module.load_bundle = lambda p, verify=True: types.SimpleNamespace(root=Path(p))
    try:
        return push(bundle, fleet, "cctv", DEVICE, **kw)
    finally:
        fleet_module.load_bundle = real_load


def model_code(rec: Recorder) -> int:
    return json.loads(rec.payloads(f"{BASE}/model")[-1])["version_code"]


def test_update_by_chunks_with_a_dropped_chunk_and_no_lost_frame(box, tiny_bundle, tmp_path, keys):
    state, rec, fleet = box
    (fleet_key, _), _ = keys
    v2 = new_version(tiny_bundle, tmp_path / "v2", fleet_key, 2)
    t0 = time.monotonic()
    result = push(v2, fleet, "cctv", DEVICE, drop_chunks={1}, timeout=120, keys=[fleet_key])
    elapsed = time.monotonic() - t0
    final = result.final(DEVICE) or {}
    assert final.get("ok") and final["stage"] == "installed" and final["version_code"] == 2, result.replies
    assert result.chunks_resent >= 1  # the box asked again for the chunk it never got
    stages = [r.get("stage") for r in result.replies[DEVICE]]
    assert stages.index("downloading") < stages.index("installing") < stages.index("smoke-testing") < stages.index("installed")
    rec.wait_for(f"{BASE}/model", lambda p: json.loads(p)["version_code"] == 2)
    rec.wait_json(f"{BASE}/enhanced", lambda d: d["model_version"] == "0.2.0")
    meta = [json.loads(p) for p in rec.payloads(f"{BASE}/enhanced")]
    swap = next(i for i, m in enumerate(meta) if m["model_version"] == "0.2.0")
    # the frame after the last one of the old model is the first one of the new model: none lost in the swap
    assert meta[swap]["frame"] == meta[swap - 1]["frame"] + 1 and meta[swap - 1]["model_version"] == "0.1.0"
    boxes = status(fleet, "cctv")
    assert boxes[DEVICE]["model"]["version_code"] == 2
    assert boxes[DEVICE]["update_result"]["stage"] in ("installed", "marked good")
    print(f"update by chunks over loopback: {elapsed:.1f} s")


def test_update_by_url_and_replayed_old_version(box, tiny_bundle, tmp_path, keys):
    state, rec, fleet = box
    (fleet_key, _), _ = keys
    v2 = new_version(tiny_bundle, tmp_path / "v2", fleet_key, 2)
    archive = pack_archive(v2, tmp_path / "v2.tar")
    result = push(v2, fleet, "cctv", DEVICE, url=archive.as_uri(), timeout=120, keys=[fleet_key])
    assert result.final(DEVICE)["stage"] == "installed", result.replies
    rec.wait_for(f"{BASE}/update_result", lambda p: json.loads(p)["stage"] == "marked good", timeout=120)
    replay = push(new_version(tiny_bundle, tmp_path / "v1b", fleet_key, 1), fleet, "cctv", DEVICE, timeout=60,
                  keys=[fleet_key])
    assert "anti-rollback" in replay.final(DEVICE)["error"]
    # an explicit downgrade, signed by the fleet key, is accepted
    down = push(tmp_path / "v1b", fleet, "cctv", DEVICE, downgrade_key=fleet_key, timeout=120)
    assert down.final(DEVICE)["stage"] == "installed" and down.final(DEVICE)["version_code"] == 1


def corrupt_reference(root: Path, manifest: dict) -> None:
    ref = root / "reference" / "expected_fp32.png"
    import cv2
    img = cv2.imread(str(ref))
    cv2.imwrite(str(ref), 255 - img)


def escape_path(root: Path, manifest: dict) -> None:
    (root / "evil.txt").write_text("x")


def bgr_spec(root: Path, manifest: dict) -> None:
    manifest["io"]["colour_order"] = "BGR"


@pytest.mark.parametrize("case", ["wrong key", "forged signature", "unsigned", "tampered file", "truncated transfer", "smoke test",
                                  "input spec", "path escape"])
def test_each_refusal_keeps_the_running_model(box, tiny_bundle, tmp_path, keys, case):
    state, rec, fleet = box
    (fleet_key, _), (rogue_key, _) = keys
    signer = fleet_key
    if case == "wrong key":
        bundle = new_version(tiny_bundle, tmp_path / "b", rogue_key, 5)
        signer, expected = rogue_key, "0 trusted key(s), 1 needed"
    elif case == "unsigned":
        bundle = new_version(tiny_bundle, tmp_path / "b", None, 5)
        (bundle / "manifest.json.sig").write_text("")  # an offer that carries no signature
        expected = "signature is malformed"
    elif case == "forged signature":
        # a bad signature under a TRUSTED key id (not an unknown key: that is "wrong key")
        from edge_agent.updates.signing import key_id, load_public_key
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5)
        trusted_id = key_id(load_public_key(keys[0][1]))
        (bundle / "manifest.json.sig").write_text(json.dumps({"algorithm": "ed25519", "key_id": trusted_id,
                                                              "signature": base64.b64encode(b"x" * 64).decode()}))
        expected = "tampered"
    elif case == "tampered file":
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5)
        model = bundle / "model_fp32.onnx"
        model.write_bytes(model.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
        expected = "sha256"
    elif case == "truncated transfer":
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5)
        archive = pack_archive(bundle, tmp_path / "b.tar")
        full = archive.read_bytes()
        good_size = len(full)
        from edge_agent.updates import fleet as fleet_module
        real_build = fleet_module.build_offer

        def build_then_truncate(*args, **kw):
            offer = real_build(*args, **kw)
            archive.write_bytes(full[: good_size // 2])
            return offer

        fleet_module.build_offer = build_then_truncate
        try:
            result = push(bundle, fleet, "cctv", DEVICE, url=archive.as_uri(), timeout=60, keys=[fleet_key])
        finally:
            fleet_module.build_offer = real_build
        assert "does not match its size/sha256" in result.final(DEVICE)["error"]
        assert model_code(rec) == 1
        return
    elif case == "smoke test":
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5, corrupt_reference)
        expected = "smoke test failed"
    elif case == "input spec":
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5, bgr_spec)
        expected = "RGB"
    else:
        bundle = new_version(tiny_bundle, tmp_path / "b", fleet_key, 5)
        manifest = json.loads((bundle / MANIFEST).read_text())
        manifest["files"]["../../escape.txt"] = {"sha256": "0" * 64, "size": 1}
        (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        sign_bundle(bundle, load_private_key(fleet_key))
        result = push_raw(bundle, fleet, timeout=60, keys=[fleet_key])
        assert "escapes the bundle" in result.final(DEVICE)["error"]
        assert model_code(rec) == 1
        return
    result = push_raw(bundle, fleet, timeout=60, keys=[signer])
    final = result.final(DEVICE)
    assert final and not final["ok"] and expected in final["error"], result.replies
    assert model_code(rec) == 1 and state["proc"].poll() is None


@pytest.mark.parametrize("stage", ["downloading", "installing", "smoke-testing", "installed"])
def test_kill_9_at_any_stage_boots_a_valid_model(box, tiny_bundle, tmp_path, keys, stage, broker):
    state, rec, fleet = box
    (fleet_key, _), _ = keys
    v2 = new_version(tiny_bundle, tmp_path / "v2", fleet_key, 2)
    import threading
    t = threading.Thread(target=push, args=(v2, fleet, "cctv", DEVICE), kwargs={"timeout": 15, "keys": [fleet_key]},
                         daemon=True)
    t.start()
    rec.wait_json(f"{BASE}/reply/update", lambda d: d.get("stage") == stage, timeout=60)
    state["proc"].send_signal(signal.SIGKILL)
    state["proc"].wait(timeout=10)
    store_dir = Path(yaml.safe_load(state["config"].read_text())["state_dir"])
    booted = ModelStore(store_dir).boot_bundle(tiny_bundle)
    # killed before or during the trial: never marked good, so the next start is on the old model
    assert booted.version_code == 1
    load_bundle(booted.root)  # verifies every file
    rec2 = Recorder(broker.port)
    state["proc"] = start_agent(state["config"])
    rec2.wait_json(f"{BASE}/health", lambda d: d["processed_frames"] > 0, timeout=120)
    rec2.close()
    t.join(timeout=20)  # the sender gives up on the killed box's offer after its timeout


def test_model_store_survives_interrupted_states(tiny_bundle, tmp_path):
    store = ModelStore(tmp_path)
    v1 = store.adopt(Path(shutil.copytree(tiny_bundle, store.staging / "1-a.unpack")), "1-aaaa")
    store.switch_to(v1)
    store.mark_good()  # an established model, not one on trial
    # a crash mid-unpack, mid-download and mid-symlink-swap leaves these behind
    shutil.copytree(tiny_bundle, store.staging / "2-b.unpack")
    (store.staging / "x.part").write_bytes(b"half")
    (store.root / ".current.tmp").symlink_to("2-bbbb")
    booted = ModelStore(tmp_path).boot_bundle(tiny_bundle)
    assert booted.root.resolve() == v1.resolve()
    assert not list(store.staging.iterdir())
    # a current that no longer verifies falls back to previous, then to the packaged model
    v2 = store.adopt(Path(shutil.copytree(tiny_bundle, store.staging / "2.unpack")), "2-bbbb")
    store.switch_to(v2)
    store.mark_good()
    (v2 / "model_fp32.onnx").write_bytes(b"broken")
    assert ModelStore(tmp_path).boot_bundle(tiny_bundle).root.resolve() == v1.resolve()


def test_new_model_failing_frames_rolls_back(tiny_bundle, tmp_path, video_file, keys):
    """Fault injection: the new model raises on every frame after its swap."""
    import numpy as np

    from edge_agent.agent.loop import Agent
    from edge_agent.agent.camera import Frame
    from edge_agent.config import parse_config
    from edge_agent.runtime.enhancer import Enhancer

    (fleet_key, _), _ = keys
    cfg = parse_config({"camera": {"source": str(video_file)}, "state_dir": str(tmp_path / "state"),
                        "model": {"bundle": str(tiny_bundle), "backend": "onnxruntime", "precision": "fp32"},
                        "updates": {"rollback_frames": 2}})
    agent = Agent(cfg)
    first = agent.store.adopt(Path(shutil.copytree(tiny_bundle, agent.store.staging / "1.unpack")), "1-aaaa")
    agent.store.switch_to(first)
    agent.store.mark_good()
    v2 = agent.store.adopt(new_version(tiny_bundle, agent.store.staging / "2.unpack", fleet_key, 2), "2-bbbb")
    broken = Enhancer(load_bundle(v2), agent.settings)
    broken.enhance_float = lambda rgb, seed: (_ for _ in ()).throw(RuntimeError("NPU fell over"))
    agent.update_result = (v2, broken, None)
    agent.apply_update()
    assert agent.bundle.version_code == 2 and agent.store.target("current").name == "2-bbbb"
    frame = Frame(np.full((64, 96, 3), 40, np.uint8), time.time(), 0)
    agent.process(frame)
    assert agent.bundle.version_code == 2
    agent.process(frame)
    assert agent.bundle.version_code == 1 and agent.store.target("current").name == "1-aaaa"
    agent.process(frame)
    assert agent.stats.processed == 1  # the old model enhances again
