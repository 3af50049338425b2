"""Averaged samples: a bundle may ask for each output frame to be the mean of
several sampler runs (seeds seed .. seed + average - 1). Real ONNX Runtime
sessions on the tiny bundle; the mean is checked against single runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from calibration.gate import write_reference
from conftest import night_image
from edge_agent.config import ModelConfig
from edge_agent.errors import BundleError, UserError
from edge_agent.measure import network_calls_per_frame
from edge_agent.runtime.bundle import load_bundle, write_manifest
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer
from edge_agent.runtime.forensic import enhance_with_uncertainty
from edge_agent.updates.install import smoke_test

FRAME = night_image(48, 64, 3)


def averaged_bundle(tiny_bundle: Path, out: Path, average: int) -> Path:
    """A copy of the tiny bundle whose manifest asks for ``average`` samples, with its reference re-made."""
    shutil.copytree(tiny_bundle, out)
    manifest = load_bundle(out).manifest
    manifest.pop("files")
    manifest["sampler"]["average"] = average
    write_manifest(out, manifest)
    manifest["reference"] = write_reference(out, night_image(48, 80, 7))
    write_manifest(out, load_bundle(out, verify=False).manifest | {"reference": manifest["reference"]})
    return out


@pytest.fixture(scope="module")
def bundle2(tiny_bundle, tmp_path_factory) -> Path:
    return averaged_bundle(tiny_bundle, tmp_path_factory.mktemp("avg") / "b", 2)


def fp32(bundle: Path, **kw) -> Enhancer:
    return Enhancer(load_bundle(bundle), EnhanceSettings(backend="onnxruntime", precision="fp32", **kw))


def test_older_bundles_take_one_sample(tiny_bundle):
    assert "average" not in json.loads((tiny_bundle / "manifest.json").read_text())["sampler"]
    assert load_bundle(tiny_bundle).sampler.average == 1 and fp32(tiny_bundle).average == 1


def test_output_is_the_mean_of_the_seeds_single_runs(bundle2):
    enhancer = fp32(bundle2)
    assert enhancer.average == 2 and enhancer.describe()["average"] == 2
    single = fp32(bundle2, average=1)
    expected = (single.enhance_float(FRAME, 5) + single.enhance_float(FRAME, 6)) / 2
    np.testing.assert_allclose(enhancer.enhance_float(FRAME, 5), expected, atol=1e-6)
    # and it really differs from one sample: the seeds' noise changes the tiny network's output
    assert np.abs(single.enhance_float(FRAME, 5) - expected).max() > 1e-4


def test_settings_override_the_bundle_and_are_bounded(bundle2):
    assert fp32(bundle2, average=3).average == 3
    with pytest.raises(UserError, match="average 0 is not allowed; allowed: 1 to 8"):
        fp32(bundle2, average=0)
    with pytest.raises(UserError, match="average 9 is not allowed"):
        fp32(bundle2).set_average(9)


@pytest.mark.parametrize("bad", [0, 9, "two"])
def test_a_manifest_with_a_bad_average_is_refused(tiny_bundle, tmp_path, bad):
    out = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sampler"]["average"] = bad
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="average|malformed"):
        load_bundle(out)


def test_forensic_output_is_the_plain_output_and_the_map_spreads_single_runs(bundle2):
    enhancer = fp32(bundle2)
    enhanced, heat = enhance_with_uncertainty(enhancer, FRAME)
    assert np.array_equal(enhanced, enhancer.enhance(FRAME))
    single = fp32(bundle2, average=1)  # the map: single samples at seeds 0..3, as before averaging existed
    _, heat_single = enhance_with_uncertainty(single, FRAME)
    assert np.array_equal(heat, heat_single)


def test_each_averaged_sample_counts_as_network_calls(bundle2):
    one, two = fp32(bundle2, average=1), fp32(bundle2)
    grid = one.grid(48, 64)
    assert network_calls_per_frame(two, grid) == 2 * network_calls_per_frame(one, grid) > 0


def test_smoke_test_reproduces_an_averaged_reference_then_runs_the_configured_average(bundle2):
    bundle = load_bundle(bundle2)
    assert bundle.manifest["reference"]["average"] == 2
    live = smoke_test(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32", average=1))
    assert live.average == 1
    assert smoke_test(bundle, EnhanceSettings(backend="onnxruntime", precision="fp32")).average == 2


def test_config_bounds_the_average():
    assert ModelConfig(average=2).average == 2 and ModelConfig().average is None
    for bad in (0, 9, "2"):
        with pytest.raises(ValidationError):
            ModelConfig(average=bad)
