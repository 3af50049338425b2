"""Mirrored views: a bundle that says ``sampler.mirror`` runs every second averaged
sample on the left-right mirrored frame and mirrors it back (a mirrored pair for
``average: 2``). Real ONNX Runtime sessions on the tiny bundle; the mean is
checked against single runs made by hand."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from calibration.gate import write_reference
from conftest import night_image
from edge_agent.cli.enhance import averaged
from edge_agent.cli.options import samples_per_frame
from edge_agent.errors import BundleError
from edge_agent.runtime.bundle import load_bundle, write_manifest
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.runtime.forensic import CustodyRecord, enhance_with_uncertainty
from edge_agent.updates.install import smoke_test

FRAME = night_image(48, 64, 3)


def sampler_bundle(tiny_bundle: Path, out: Path, **sampler: object) -> Path:
    """A copy of the tiny bundle with ``sampler`` keys set, its reference re-made with them."""
    shutil.copytree(tiny_bundle, out)
    manifest = load_bundle(out).manifest
    manifest.pop("files")
    manifest["sampler"].update(sampler)
    write_manifest(out, manifest)
    reference = write_reference(out, night_image(48, 80, 7))
    write_manifest(out, load_bundle(out, verify=False).manifest | {"reference": reference})
    return out


@pytest.fixture(scope="module")
def mirrored(tiny_bundle, tmp_path_factory) -> Path:
    return sampler_bundle(tiny_bundle, tmp_path_factory.mktemp("mirror") / "b", average=2, mirror=True)


def fp32(bundle: Path, **kw) -> Enhancer:
    return Enhancer(load_bundle(bundle), EnhanceSettings(backend="onnxruntime", precision="fp32", **kw))


def test_older_bundles_do_not_mirror(tiny_bundle):
    assert "mirror" not in json.loads((tiny_bundle / "manifest.json").read_text())["sampler"]
    assert load_bundle(tiny_bundle).sampler.mirror is False and fp32(tiny_bundle).describe()["mirror"] is False


def test_views_alternate_plain_and_mirrored(mirrored, tiny_bundle):
    assert fp32(mirrored).views(5, 4) == [(5, False), (6, True), (7, False), (8, True)]
    assert fp32(tiny_bundle).views(5, 2) == [(5, False), (6, False)]


def test_output_is_the_mean_of_a_plain_and_a_mirrored_run(mirrored, tiny_bundle):
    single = fp32(tiny_bundle)  # the same network, one plain sample per frame
    plain = single.enhance_float(FRAME, 5)
    flipped = single.enhance_float(np.ascontiguousarray(FRAME[:, ::-1]), 6)[:, ::-1]
    out = fp32(mirrored).enhance_float(FRAME, 5)
    np.testing.assert_allclose(out, (plain + flipped) / 2, atol=1e-6)
    # the mirrored view is a different sample from the plain one at the same seed
    seeds_only = (plain + single.enhance_float(FRAME, 6)) / 2
    assert np.abs(out - seeds_only).max() > 1e-4


def test_odd_sized_frames_are_mirrored_back_pixel_for_pixel(mirrored, tiny_bundle):
    frame = night_image(37, 53, 9)  # odd sizes: padding lands on the other side of the mirrored frame
    single = fp32(tiny_bundle)
    flipped = single.enhance_float(np.ascontiguousarray(frame[:, ::-1]), 1)[:, ::-1]
    out = fp32(mirrored).enhance_float(frame, 0)
    assert out.shape == (37, 53, 3)
    np.testing.assert_allclose(out, (single.enhance_float(frame, 0) + flipped) / 2, atol=1e-6)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_a_manifest_with_a_bad_mirror_is_refused(tiny_bundle, tmp_path, bad):
    out = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sampler"]["mirror"] = bad
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="malformed sampler.*mirror must be true or false"):
        load_bundle(out)


def test_forensic_map_spreads_the_same_views_and_the_record_names_them(mirrored, tmp_path):
    enhancer = fp32(mirrored)
    enhanced, _ = enhance_with_uncertainty(enhancer, FRAME)
    assert np.array_equal(enhanced, enhancer.enhance(FRAME))
    record = CustodyRecord(enhancer)
    record.write(tmp_path / "custody.json")
    settings = json.loads((tmp_path / "custody.json").read_text())["settings"]
    assert settings["mirror"] is True
    assert settings["uncertainty_seeds"] == [0, 1, 2, 3]
    assert settings["uncertainty_mirrored"] == [False, True, False, True]


def test_smoke_test_reproduces_a_mirrored_reference(mirrored):
    live = smoke_test(load_bundle(mirrored), EnhanceSettings(backend="onnxruntime", precision="fp32"))
    assert live.mirror and live.average == 2


def test_the_summary_says_every_second_sample_is_mirrored(mirrored):
    assert averaged(fp32(mirrored).describe()) == ", mean of 2 samples (every second one mirrored)"
    assert averaged(fp32(mirrored, average=1).describe()) == ""


def test_bundle_inspect_says_how_many_samples_and_whether_mirrored(mirrored, tiny_bundle):
    for bundle, phrase in ((mirrored, "mean of 2 samples (every second one mirrored)"), (tiny_bundle, "1 sample per frame")):
        sampler = load_bundle(bundle).sampler
        assert samples_per_frame(sampler.average, sampler.mirror) == phrase


@pytest.mark.parametrize("bad", ["mirror", [1], {"mirror": True}])
def test_a_malformed_requires_is_refused(tiny_bundle, tmp_path, bad):
    out = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["requires"] = bad
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="requires must be a list of runtime feature names"):
        load_bundle(out)
