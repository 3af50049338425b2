from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from edge_agent.runtime.bundle import load_bundle, pack_archive
from edge_agent.errors import BundleError


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "b"))


def test_loads_and_exposes_its_own_settings(tiny_bundle):
    b = load_bundle(tiny_bundle)
    assert b.name == "tiny-test" and b.version_code == 1
    assert b.sampler.steps == [2, 3, 4] and b.sampler.default_steps == 2
    assert b.io.tile == (64, 64) and b.io.granularity == 4
    assert set(b.precisions) == {"fp32", "int8"}
    assert b.manifest["provenance"]["commit"]


def test_tampered_file_is_refused(bundle_copy):
    model = bundle_copy / "model_int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model_int8.onnx.*sha256"):
        load_bundle(bundle_copy)


def test_truncated_missing_and_unlisted_files_are_refused(bundle_copy):
    (bundle_copy / "extra.py").write_text("print('hi')")
    with pytest.raises(BundleError, match="unlisted"):
        load_bundle(bundle_copy)
    (bundle_copy / "extra.py").unlink()
    xml = bundle_copy / "openvino" / "model_int8.xml"
    xml.write_bytes(xml.read_bytes()[:100])
    with pytest.raises(BundleError, match="wrong size"):
        load_bundle(bundle_copy)
    xml.unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(bundle_copy)


def test_bad_manifest_is_refused(bundle_copy):
    manifest = bundle_copy / "manifest.json"
    m = json.loads(manifest.read_text())
    manifest.write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)
    m["sampler"]["default_steps"] = 7
    manifest.write_text(json.dumps(m))
    with pytest.raises(BundleError, match="default_steps"):
        load_bundle(bundle_copy)
    manifest.unlink()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(bundle_copy)


def test_archive_round_trip(tiny_bundle, tmp_path):
    archive = pack_archive(tiny_bundle, tmp_path / "tiny.tar")
    assert load_bundle(archive).manifest == load_bundle(tiny_bundle).manifest


def test_archive_with_escaping_path_is_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(BundleError, match="cannot be unpacked"):
        load_bundle(archive)
    assert not (tmp_path.parent / "escape.txt").exists()
