"""Every benchmark script, through the one command that regenerates the
README's results (`python -m benchmarks.run_all`), on a tiny setting so
none of them can rot."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import night_image


def tiny_dataset(root: Path) -> Path:
    """index.json with held-out frames and a static-camera clip in which a square walks."""
    index = {"train": [], "eval": ["vtest_0000", "photo_a"], "eval_clip": [f"{i:04d}" for i in range(6)]}
    for split in ("eval", "eval_clip"):
        (root / split).mkdir(parents=True)
    for i, name in enumerate(index["eval"]):
        cv2.imwrite(str(root / "eval" / f"{name}.png"), np.clip(night_image(96, 128, i) * 3.0, 0, 255).astype(np.uint8))
    street = np.clip(night_image(96, 128, 9) * 3.0, 0, 255).astype(np.uint8)
    for i, name in enumerate(index["eval_clip"]):
        frame = street.copy()
        frame[40:60, 10 + 12 * i:30 + 12 * i] = 230
        cv2.imwrite(str(root / "eval_clip" / f"{name}.png"), frame)
    (root / "index.json").write_text(json.dumps(index))
    return root


def test_run_all_quick_regenerates_every_result_and_figure(tiny_bundle, tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.run_all import main as run_all

    has_broker = shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()
    out = tmp_path / "results"
    assert run_all(["--quick", "--model", str(tiny_bundle), "--data", str(tiny_dataset(tmp_path / "data")),
                    "--out", str(out), *([] if has_broker else ["--no-agent"])]) == 0
    lat = json.loads((out / "latency.json").read_text())
    assert {r["backend"] for r in lat["rows"] if "error" not in r} == {"openvino", "onnxruntime"}
    assert lat["matmul_peak_gflops"] > 0 and "gamma_wb_nlm" in lat["peers_ms"]["160x96"]
    row = next(r for r in lat["rows"] if "error" not in r)
    assert row["gmac_per_frame"] > 0 and 0 < row["efficiency_vs_fp32_peak"] < 1
    assert row["p50_ms"] > 0 and row["filter_mean_ms"] > 0 and row["peak_rss_mb"] > 0
    if has_broker:
        agent = json.loads((out / "agent_latency.json").read_text())
        assert agent["frames"] > 5 and agent["e2e_p50_ms"] >= agent["inference_p50_ms"] > 0
    quality = json.loads((out / "quality.json").read_text())["summary"]
    assert {"gamma_wb_nlm", "clahe_nlm", "bundle openvino int8 2-step"} <= set(quality)
    temporal = json.loads((out / "temporal.json").read_text())["rows"]
    assert set(temporal["per frame"]) == {"street_sodium", "very_dark"}
    assert temporal["temporal filter (shipped)"]["street_sodium"]["flicker"] < temporal["per frame"]["street_sodium"]["flicker"]
    projection = json.loads((out / "projection.json").read_text())
    assert projection["kind"] == "projection" and "not a measurement" in (out / "projection.md").read_text()
    assert projection["measured_cpu"]["p50_ms"] > 0 and projection["rows"][0]["projected_ms_at_10pct"] > 0
    for png in ("latency_vs_resolution", "latency_vs_steps", "quality", "quality_per_condition", "flicker", "projection"):
        assert cv2.imread(str(out / "plots" / f"{png}.png")) is not None, png
    assert cv2.imread(str(out / "plots" / "grid.jpg")).shape[0] > 100


def test_quick_run_refuses_to_overwrite_the_real_results():
    from benchmarks.run_all import main as run_all

    with pytest.raises(SystemExit, match="--quick needs --out"):
        run_all(["--quick"])


def test_bundle_latency_measures_each_bundle_in_alternating_rounds_beside_the_peers(tiny_bundle, tmp_path):
    from benchmarks.bundle_latency import main as bundle_latency

    out = tmp_path / "lat"
    assert bundle_latency(["--bundle", str(tiny_bundle), "--bundle", str(tiny_bundle), "--resolution", "96x64",
                           "--frames", "2", "--rounds", "2", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["resolution"] == "96x64" and len(result["bundles"]) == 2
    for row in result["bundles"]:
        assert len(row["rounds_p50_ms"]) == 2 and row["p50_ms"] > 0 and row["model_mean_ms"] > 0
    assert set(result["peers_ms"]) == {"gamma_wb_nlm", "clahe_nlm"}
    assert "faster" in out.with_suffix(".md").read_text()


def test_bundle_latency_refuses_a_bad_resolution(tiny_bundle, tmp_path, capsys):
    from benchmarks.bundle_latency import main as bundle_latency

    assert bundle_latency(["--bundle", str(tiny_bundle), "--resolution", "big", "--out", str(tmp_path / "x")]) == 2
    assert "resolution 'big' is not WxH" in capsys.readouterr().err


def test_temporal_input_averaging_rows_and_the_filter_on_night_frames(tiny_bundle, tmp_path):
    from benchmarks.temporal import input_averaged, main as temporal
    from edge_agent.runtime.temporal import TemporalSpec

    out = tmp_path / "temporal"
    assert temporal(["--quick", "--model", str(tiny_bundle), "--data", str(tiny_dataset(tmp_path / "data")),
                     "--input-average", "0.8", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert set(rows["input averaged 0.8 + filter"]) == {"street_sodium", "very_dark"}
    assert "input averaged 0.8 + filter" in out.with_suffix(".md").read_text()
    # on a static noisy scene the averaged frames are quieter than any one frame; a bright square
    # that jumps in is taken as it is (motion), not blended into the background
    rng = np.random.default_rng(0)
    scene = np.full((64, 64, 3), 40.0)
    night = [np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    night[-1][16:48, 16:48] = 220
    averaged = input_averaged(night, 0.8, TemporalSpec(0.8, 2.5, 5.0))
    assert averaged[-2].astype(float).std() < 0.7 * night[-2].astype(float).std()
    assert abs(float(averaged[-1][24:40, 24:40].mean()) - 220.0) < 3.0


def test_temporal_refuses_an_input_strength_outside_0_1(capsys):
    from benchmarks.temporal import main as temporal

    with pytest.raises(SystemExit) as exit_:
        temporal(["--input-average", "1.0"])
    assert exit_.value.code == 2 and "strictly between 0 and 1" in capsys.readouterr().err


def test_print_crops_rows_show_every_text_plate_with_both_verdicts():
    """benchmarks.print_crops: one row per text plate (6 per scene), clean / night / model faces side
    by side, labelled with each reading's verdict; the night input gained is not an enhancer."""
    pytest.importorskip("torch")
    from benchmarks.print_crops import gained_to, plate_rows, stack

    rng = np.random.default_rng(3)
    background = (rng.random((576, 768, 3)) * 80 + 100).astype(np.uint8)
    seen = []

    def enhance(night: np.ndarray) -> np.ndarray:
        seen.append(night.shape)
        return night

    rows = plate_rows([("print_0001", background)], "dusk_led", enhance)
    assert seen == [(576, 768, 3)]
    assert len(rows) == 6  # TEXT_HEIGHTS: six plates a scene
    image = stack(rows)
    assert image.ndim == 3 and image.shape[1] == max(r.shape[1] for r in rows)
    night = np.full((4, 4, 3), 20, np.uint8)
    assert gained_to(night, np.full((4, 4, 3), 120, np.uint8)).mean() == 120
