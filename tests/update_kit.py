"""Helpers for the update tests (test_update_*.py, test_kill_points.py): a
bundle built from the packaged model (no torch needed), new signed versions
of it, offers signed by any keys with any metadata, and an update controller
driven without MQTT."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import parse_config
from edge_agent.errors import UserError
from edge_agent.paths import default_model_path
from edge_agent.runtime.bundle import MANIFEST, load_bundle, pack_archive, write_manifest
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.updates.controller import UpdateController, UpdateHooks
from edge_agent.updates.fleet import build_offer
from edge_agent.updates.protocol import canonical, chunk_transfer, chunk_count, url_transfer
from edge_agent.updates.signing import generate_keypair, key_id, load_private_key, sign_bundle
from edge_agent.updates.store import ModelStore

REAL_PACKAGED = default_model_path()
PACKAGED_VERSION = 3  # the version code the update tests' numbers are written against
SETTINGS = EnhanceSettings(backend="onnxruntime", device=None, precision="fp32", steps=None, seed=None, threads=1,
                           cache_dir=None)


def new_version(dst: Path, key: Path | None, version_code: int, edit: Any = None, src: Path = REAL_PACKAGED) -> Path:
    """A copy of ``src`` as another version, optionally edited, re-hashed and signed."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST).read_text())
    manifest.update(version=f"0.{version_code}.0", version_code=version_code)
    manifest.pop("files")
    if edit:
        edit(dst, manifest)
    write_manifest(dst, manifest)
    if key:
        sign_bundle(dst, load_private_key(key))
    return dst


def packaged_at(version_code: int) -> Path:
    """The packaged model re-versioned to ``version_code`` (built once per
    packaged release, shared by test processes, kill -9 ones included), so the
    tests' version numbers do not change when a new model is packaged."""
    digest = hashlib.sha256((REAL_PACKAGED / MANIFEST).read_bytes()).hexdigest()[:12]
    dst = Path(tempfile.gettempdir()) / f"edge-agent-packaged-v{version_code}-{digest}"
    if not dst.exists():
        tmp = Path(tempfile.mkdtemp(prefix=dst.name + ".", dir=dst.parent))
        new_version(tmp / "bundle", None, version_code)
        try:
            (tmp / "bundle").rename(dst)
        except OSError:  # another process made it first
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


PACKAGED = packaged_at(PACKAGED_VERSION)


def url_offer(bundle: Path, keys: list[Path], devices: list[str] | None = None, url: str | None = None,
              **meta: Any) -> tuple[dict[str, Any], Path]:
    """An offer of ``bundle`` by (file) URL, signed by ``keys``, with metadata fields overridden by ``meta``."""
    archive = pack_archive(bundle, bundle.parent / f"{bundle.name}.tar")
    args = build_offer(bundle, archive, url_transfer(url or archive.as_uri()), keys, devices or ["box1"])
    return (resign(args, keys, **meta) if meta else args), archive


def chunk_offer(bundle: Path, keys: list[Path], transfer_id: str = "t1", **meta: Any) -> tuple[dict[str, Any], bytes]:
    """An offer of ``bundle`` as MQTT chunks; returns the args and the archive's bytes."""
    archive = pack_archive(bundle, bundle.parent / f"{bundle.name}.tar")
    data = archive.read_bytes()
    args = build_offer(bundle, archive, chunk_transfer(transfer_id, chunk_count(len(data))), keys, ["box1"])
    return (resign(args, keys, **meta) if meta else args), data


def resign(args: dict[str, Any], keys: list[Path], **meta: Any) -> dict[str, Any]:
    """The same offer with metadata fields changed and signed again by ``keys``."""
    body = {**json.loads(base64.b64decode(args["metadata"])), **meta}
    metadata = canonical(body)
    sigs = []
    for path in keys:
        key = load_private_key(path)
        sigs.append({"key_id": key_id(key.public_key()), "signature": base64.b64encode(key.sign(metadata)).decode()})
    return {**args, "metadata": base64.b64encode(metadata).decode(), "signatures": sigs}


@dataclass
class Hooks:
    """An agent stand-in: the running enhancer and everything the controller says."""

    enhancer: Enhancer
    replies: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    sink: Any = None
    staged: list[dict[str, Any] | None] = field(default_factory=list)  # what UpdateHooks.staged said, in order

    def hooks(self) -> UpdateHooks:
        return UpdateHooks(running=lambda: self.enhancer, use=self.use, announce=lambda: None,
                           reply=lambda req, body: self.replies.append((req, body)), publish_result=self.results.append,
                           request_chunks=lambda tid, missing: None, route_chunks=self.route, staged=self.staged.append)

    def use(self, enhancer: Enhancer) -> None:
        self.enhancer = enhancer

    def route(self, sink: Any) -> None:
        self.sink = sink


def controller(state: Path, trusted: list[Path], **updates: Any) -> tuple[UpdateController, Hooks]:
    """An update controller for box ``box1`` on a fresh or existing state dir."""
    cfg = parse_config({"camera": {"source": "x"}, "updates": {"trusted_keys": [str(p) for p in trusted],
                                                               "url_schemes": ["https", "file"], **updates}})
    store = ModelStore(state)
    hooks = Hooks(Enhancer(store.boot_bundle(PACKAGED), SETTINGS))
    return UpdateController(cfg.updates, store, SETTINGS, hooks.hooks(), targets={"box1", "fleet"}), hooks


def run_offer(ctrl: UpdateController, hooks: Hooks, args: dict[str, Any], request: Any = "req") -> dict[str, Any]:
    """Offer ``args`` and wait for the outcome: the refusal, or the final report."""
    ctrl.request = request
    try:
        ctrl.offer(args)
    except UserError as exc:
        return {"ok": False, "stage": "refused at offer", "error": str(exc)}
    assert ctrl.job is not None
    ctrl.job.join(timeout=300)
    ctrl.poll()
    return hooks.results[-1]


def staging_empty(state: Path) -> bool:
    return not list(ModelStore(state).staging.iterdir())


def booted_version(state: Path) -> int:
    bundle = ModelStore(state).boot_bundle(PACKAGED)
    load_bundle(bundle.root)  # verifies every file
    return bundle.version_code


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """One fleet key pair (private, public) for a test module."""
    return generate_keypair(tmp_path_factory.mktemp("keys"), "fleet")


@pytest.fixture(scope="module")
def versions(tmp_path_factory, keys):
    """The packaged model re-versioned to 4 and 5, signed by ``keys``."""
    folder = tmp_path_factory.mktemp("versions")
    return {v: new_version(folder / f"v{v}", keys[0], v) for v in (4, 5)}
