"""Every refusal of an update, one by one, through the update controller (the
box's updater without MQTT): each keeps the running model, leaves staging
empty and says why. The bundles are the packaged model re-versioned, so no
torch is needed."""
from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from pathlib import Path

import cv2
import pytest

from edge_agent.runtime.bundle import MANIFEST
from edge_agent.updates import transfer
from edge_agent.updates.install import Limits
from edge_agent.updates.signing import generate_keypair, load_private_key, sign_bundle

from update_kit import PACKAGED_VERSION, chunk_offer, controller, new_version, resign, run_offer, staging_empty, url_offer

RUNNING = PACKAGED_VERSION  # the packaged model's version code, as the tests see it


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return {name: generate_keypair(folder, name) for name in ("fleet", "second", "rogue", "commands")}


@pytest.fixture(scope="module")
def v4(tmp_path_factory, keys):
    return new_version(tmp_path_factory.mktemp("v4") / "v4", keys["fleet"][0], 4)


def corrupt_reference(root: Path, manifest: dict) -> None:
    ref = root / "reference" / "expected_fp32.png"
    cv2.imwrite(str(ref), 255 - cv2.imread(str(ref)))


def refused(tmp_path, keys, args, expected: str, **updates) -> None:
    ctrl, hooks = controller(tmp_path / "state", [keys["fleet"][1]], **updates)
    outcome = run_offer(ctrl, hooks, args)
    assert not outcome["ok"] and expected in outcome["error"], outcome
    assert hooks.enhancer.bundle.version_code == RUNNING
    assert staging_empty(tmp_path / "state")


def test_a_good_offer_installs(tmp_path, keys, v4):
    args, _ = url_offer(v4, [keys["fleet"][0]])
    ctrl, hooks = controller(tmp_path / "state", [keys["fleet"][1]])
    outcome = run_offer(ctrl, hooks, args)
    assert outcome["stage"] == "installed" and hooks.enhancer.bundle.version_code == 4
    assert staging_empty(tmp_path / "state")


def test_bad_signature_under_a_trusted_key(tmp_path, keys, v4):
    args, _ = url_offer(v4, [keys["fleet"][0]])
    sig = base64.b64decode(args["signatures"][0]["signature"])
    args["signatures"][0]["signature"] = base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]).decode()
    refused(tmp_path, keys, args, "does not verify (tampered)")


def test_transfer_fields_are_signed(tmp_path, keys, v4):
    args, _ = url_offer(v4, [keys["fleet"][0]])
    meta = json.loads(base64.b64decode(args["metadata"]))
    meta["transfer"] = {"url": "https://evil.example/model.tar"}
    args["metadata"] = base64.b64encode(json.dumps(meta).encode()).decode()  # not re-signed
    refused(tmp_path, keys, args, "does not verify (tampered)")


def test_wrong_key(tmp_path, keys, v4):
    refused(tmp_path, keys, url_offer(v4, [keys["rogue"][0]])[0], "0 trusted key(s), 1 needed")


def test_wrong_role_a_command_key_cannot_sign_updates(tmp_path, keys, v4):
    refused(tmp_path, keys, url_offer(v4, [keys["commands"][0]])[0], "0 trusted key(s), 1 needed")


def test_threshold_of_two_keys(tmp_path, keys, v4):
    trusted = [str(keys["fleet"][1]), str(keys["second"][1])]
    one, _ = url_offer(v4, [keys["fleet"][0]])
    ctrl, hooks = controller(tmp_path / "state", [Path(p) for p in trusted], threshold=2)
    assert "1 trusted key(s), 2 needed" in run_offer(ctrl, hooks, one)["error"]
    both = resign(one, [keys["fleet"][0], keys["second"][0]], expires_at=time.time() + 600)
    assert run_offer(ctrl, hooks, both)["stage"] == "installed"


def test_expired_metadata_freeze_attack(tmp_path, keys, v4):
    args = url_offer(v4, [keys["fleet"][0]], issued_at=978307200.0, expires_at=978310800.0)[0]  # 2001
    refused(tmp_path, keys, args, "expired")


def test_issued_in_the_future(tmp_path, keys, v4):
    now = time.time()
    refused(tmp_path, keys, url_offer(v4, [keys["fleet"][0]], issued_at=now + 86400, expires_at=now + 90000)[0],
            "in the future")


def test_replayed_offer(tmp_path, keys, v4):
    args, _ = url_offer(v4, [keys["fleet"][0]])
    ctrl, hooks = controller(tmp_path / "state", [keys["fleet"][1]])
    assert run_offer(ctrl, hooks, args)["stage"] == "installed"
    ctrl.trial = None  # as if marked good
    again = run_offer(ctrl, hooks, args)
    assert "replayed offer" in again["error"]


def test_downgrade_below_the_floor(tmp_path, keys, v4):
    ctrl, hooks = controller(tmp_path / "state", [keys["fleet"][1]])
    ctrl.store.raise_floor(10)
    args = url_offer(v4, [keys["fleet"][0]], downgrade=True)[0]
    outcome = run_offer(ctrl, hooks, args)
    assert "below this box's floor 10" in outcome["error"] and hooks.enhancer.bundle.version_code == RUNNING


def test_unsigned_downgrade(tmp_path, keys):
    old = new_version(tmp_path / "v2", keys["fleet"][0], 2)
    refused(tmp_path, keys, url_offer(old, [keys["fleet"][0]])[0], "anti-rollback")


def test_wrong_device(tmp_path, keys, v4):
    refused(tmp_path, keys, url_offer(v4, [keys["fleet"][0]], devices=["box2", "lobby"])[0], "not this box")


def test_size_lie(tmp_path, keys, v4):
    args, archive = url_offer(v4, [keys["fleet"][0]])
    lie = resign(args, [keys["fleet"][0]], archive_size=archive.stat().st_size - 1000)
    refused(tmp_path, keys, lie, "larger than the signed size")


def test_chunk_count_that_does_not_match_the_size(tmp_path, keys, v4):
    args, _ = chunk_offer(v4, [keys["fleet"][0]])
    lie = resign(args, [keys["fleet"][0]], transfer={"chunks": {"id": "t1", "count": 10**6, "size": 100000}})
    refused(tmp_path, keys, lie, "transfer.chunks.count")


def test_chunk_flood_and_chunk_timeout(tmp_path, keys, v4, monkeypatch):
    args, data = chunk_offer(v4, [keys["fleet"][0]])
    ctrl, hooks = controller(tmp_path / "state", [keys["fleet"][1]])
    monkeypatch.setattr(ctrl, "limits", lambda: Limits(("https", "file"), stall_s=2.0))
    ctrl.request = "req"
    ctrl.offer(args)
    for i in range(50):  # oversized, out of range, short: none is kept
        hooks.sink("t1", i, b"x" * 200_000)
        hooks.sink("t1", 10**6 + i, data[:100_000])
        hooks.sink("t1", 0, b"short")
    assert ctrl.job.receiver.refused == 150
    ctrl.job.join(timeout=120)
    ctrl.poll()
    assert "timed out" in hooks.results[-1]["error"] and staging_empty(tmp_path / "state")


def test_decompression_bomb(tmp_path, keys, v4):
    args = url_offer(v4, [keys["fleet"][0]], unpacked_size=1000)[0]  # the archive unpacks to far more
    refused(tmp_path, keys, args, "decompression bomb")
    big = url_offer(v4, [keys["fleet"][0]])[0]
    refused(tmp_path / "b", keys, big, "limits 1048576 bytes", max_unpacked_mb=1)


def test_path_escape(tmp_path, keys):
    bundle = new_version(tmp_path / "b", None, 5)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["../../escape.txt"] = {"sha256": "0" * 64, "size": 1}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    sign_bundle(bundle, load_private_key(keys["fleet"][0]))
    from edge_agent.runtime.bundle import pack_archive
    from edge_agent.updates import fleet
    archive = pack_archive(bundle, tmp_path / "b.tar")
    real = fleet.load_bundle
    fleet.load_bundle = lambda p, verify=True: type("B", (), {"root": Path(p)})()
    try:
        args = fleet.build_offer(bundle, archive, {"url": archive.as_uri()}, [keys["fleet"][0]], ["box1"])
    finally:
        fleet.load_bundle = real
    refused(tmp_path, keys, args, "escapes the bundle")


def test_failed_smoke_test(tmp_path, keys):
    bundle = new_version(tmp_path / "b", keys["fleet"][0], 5, corrupt_reference)
    refused(tmp_path, keys, url_offer(bundle, [keys["fleet"][0]])[0], "smoke test failed")


def test_a_bundle_that_needs_a_newer_runtime(tmp_path, keys, monkeypatch):
    bundle = new_version(tmp_path / "b", keys["fleet"][0], 5, lambda root, m: m.update(requires=["mirror", "teleport"]))
    # packed by a fleet manager's newer tools, which know a feature this box's runtime does not
    monkeypatch.setattr("edge_agent.runtime.bundle.RUNTIME_FEATURES", ("average", "mirror", "teleport"))
    args = url_offer(bundle, [keys["fleet"][0]])[0]
    monkeypatch.undo()
    refused(tmp_path, keys, args, "needs runtime features this edge-agent lacks: teleport; "
                                  "allowed: average, mirror, tone_anchor (update edge-agent first)")


def test_http_is_refused_by_default(tmp_path, keys, v4):
    args = url_offer(v4, [keys["fleet"][0]], url="http://127.0.0.1:9/model.tar")[0]
    refused(tmp_path, keys, args, "URL scheme 'http' is not allowed")


class Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_slow_download_is_given_up(tmp_path, keys, v4, monkeypatch):
    monkeypatch.setattr(transfer, "MIN_RATE_GRACE_S", 1.0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        args = url_offer(v4, [keys["fleet"][0]], url=f"http://127.0.0.1:{server.server_port}/m.tar")[0]
        t0 = time.monotonic()
        refused(tmp_path, keys, args, "slower than", url_schemes=["https", "http"])
        assert time.monotonic() - t0 < 60
    finally:
        server.shutdown()


@pytest.mark.parametrize("mutate", [
    lambda a: a.pop("metadata"), lambda a: a.update(metadata="!!"), lambda a: a.update(signatures=[]),
    lambda a: a.update(signatures=[{"key_id": 5}]), lambda a: a.update(signatures="x"),
    lambda a: a.update(manifest=12), lambda a: a.update(metadata=base64.b64encode(b"[1]").decode()),
    lambda a: a.update(metadata=base64.b64encode(b"NaN").decode()),
    lambda a: a.update(metadata=base64.b64encode(b"x" * 20000).decode()),
])
def test_every_malformed_offer_is_one_clear_refusal(tmp_path, keys, v4, mutate):
    from edge_agent.errors import CommandError
    from edge_agent.updates.protocol import Offer
    args, _ = url_offer(v4, [keys["fleet"][0]])
    mutate(args)
    with pytest.raises(CommandError):
        Offer.parse(args)


@pytest.mark.parametrize("field,value", [
    ("archive_size", 0), ("archive_size", 10**12), ("archive_size", "5"), ("archive_size", True),
    ("transfer", {}), ("transfer", {"url": "https://a", "chunks": {}}), ("transfer", {"chunks": {"id": "a/b", "count": 1}}),
    ("transfer", {"chunks": {"id": "²", "count": 1}}), ("transfer", {"chunks": {"id": "a", "count": 0}}),
    ("transfer", {"chunks": {"id": "a", "count": 1, "size": 5}}), ("transfer", {"url": "x" * 3000}),
    ("expires_at", 1e400), ("expires_at", "soon"), ("devices", []), ("devices", "box1"), ("downgrade", "yes"),
    ("version_code", -1), ("archive_sha256", "XYZ"), ("_type", "edge-agent/command"), ("floor", 2.5),
])
def test_every_offer_metadata_error(tmp_path, keys, v4, field, value):
    from edge_agent.errors import CommandError
    from edge_agent.updates.protocol import Offer
    args, _ = url_offer(v4, [keys["fleet"][0]])
    meta = json.loads(base64.b64decode(args["metadata"]))
    meta[field] = value
    args["metadata"] = base64.b64encode(json.dumps(meta).encode()).decode()
    with pytest.raises(CommandError):
        Offer.parse(args)


def test_key_rotation(tmp_path, keys, v4):
    """Rotation: the box trusts old and new while offers move to the new key;
    once the old key is removed from its config, the old key's offers are refused."""
    both = [keys["fleet"][1], keys["second"][1]]
    ctrl, hooks = controller(tmp_path / "a", both)
    assert run_offer(ctrl, hooks, url_offer(v4, [keys["second"][0]])[0])["stage"] == "installed"
    ctrl, hooks = controller(tmp_path / "b", [keys["second"][1]])
    assert "0 trusted key(s)" in run_offer(ctrl, hooks, url_offer(v4, [keys["fleet"][0]])[0])["error"]
