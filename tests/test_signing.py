from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "bundle", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture()
def keys(tmp_path) -> tuple[Path, Path, Path]:
    assert cli("keygen", "--out", str(tmp_path / "k")).returncode == 0
    assert cli("keygen", "--out", str(tmp_path / "k"), "--name", "other").returncode == 0
    return tmp_path / "k" / "fleet.key", tmp_path / "k" / "fleet.pub", tmp_path / "k" / "other.pub"


def test_sign_verify_inspect_pack(tiny_bundle, keys, tmp_path):
    key, pub, other = keys
    assert (key.stat().st_mode & 0o777) == 0o600
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    unsigned = cli("verify", str(bundle), "--pubkey", str(pub))
    assert unsigned.returncode == 3 and "unsigned" in unsigned.stderr
    assert cli("sign", str(bundle), "--key", str(key)).returncode == 0
    ok = cli("verify", str(bundle), "--pubkey", str(other), "--pubkey", str(pub))
    assert ok.returncode == 0 and "signed by key" in ok.stdout
    wrong = cli("verify", str(bundle), "--pubkey", str(other))
    assert wrong.returncode == 3 and "not among the trusted keys" in wrong.stderr
    info = json.loads(cli("inspect", str(bundle), "--json").stdout)
    assert info["name"] == "tiny-test" and info["signed_by"]
    assert "version code 1" in cli("inspect", str(bundle)).stdout
    tar = tmp_path / "b.tar"
    assert cli("pack", str(bundle), "-o", str(tar)).returncode == 0
    assert cli("verify", str(tar), "--pubkey", str(pub)).returncode == 0


def test_tampered_manifest_fails_the_signature(tiny_bundle, keys, tmp_path):
    key, pub, _ = keys
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    assert cli("sign", str(bundle), "--key", str(key)).returncode == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["version_code"] = 99  # a replayed/forged version bump
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    r = cli("verify", str(bundle), "--pubkey", str(pub))
    assert r.returncode == 3 and "does not match its manifest" in r.stderr and len(r.stderr.splitlines()) == 1


def test_keygen_never_overwrites(keys):
    key, _, _ = keys
    r = cli("keygen", "--out", str(key.parent))
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr
