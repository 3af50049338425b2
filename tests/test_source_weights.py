"""Scene draws weighted per source package (DistillConfig.source_weights): the 115 photographs
of data_wide are large and took most of the draws from the scenes the students were made on."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from export.dataset import NightPairs, load_split, source_scales  # noqa: E402
from export.distill import DistillConfig  # noqa: E402


def two_source_dataset(root: Path) -> Path:
    """Two 64x64 frames: a dark one from package 'old', a bright one from package 'new'."""
    (root / "train").mkdir(parents=True)
    for name, value in (("dark", 30), ("bright", 200)):
        cv2.imwrite(str(root / "train" / f"{name}.png"), np.full((64, 64, 3), value, np.uint8))
    index = {"train": ["dark", "bright"], "eval": [], "eval_clip": [], "sources": {"dark": "old", "bright": "new"}}
    (root / "index.json").write_text(json.dumps(index))
    return root


def test_sources_not_named_keep_their_odds_and_named_ones_are_scaled(tmp_path):
    data = two_source_dataset(tmp_path)
    assert source_scales(data, "train", {}) == [1.0, 1.0]
    assert source_scales(data, "train", {"new": 0.25}) == [1.0, 0.25]
    pairs = NightPairs(load_split(data, "train"), 32, seed=0, frame_scales=source_scales(data, "train", {"new": 0.25}))
    assert pairs.weights == pytest.approx([0.8, 0.2])


def test_a_source_weighted_zero_is_never_drawn(tmp_path):
    data = two_source_dataset(tmp_path)
    pairs = NightPairs(load_split(data, "train"), 32, seed=0, frame_scales=source_scales(data, "train", {"new": 0.0}),
                       exposure_range=(0.6, 0.6))
    clean_means = [float(clean.mean()) for (_, clean), _ in zip(pairs, range(8))]
    assert max(clean_means) < 0.5  # every clean crop is the dark frame (30/255 before the camera model's tone)


@pytest.mark.parametrize("weights, message", [
    ({"gcompris": 0.5}, "names ['gcompris'], not a source"),
    ({"new": -1.0}, "must be finite and >= 0"),
    ({"new": float("nan")}, "must be finite and >= 0"),
    ({"new": 0.0, "old": 0.0}, "leave a frame to draw"),
])
def test_bad_source_weights_are_one_error_line(tmp_path, weights, message):
    data = two_source_dataset(tmp_path)
    with pytest.raises(SystemExit) as exc:
        source_scales(data, "train", weights)
    assert message in str(exc.value) and str(exc.value).startswith("error: source_weights")


def test_the_recipe_carries_source_weights_and_refuses_a_non_number(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("source_weights: {gcompris-qt-data: 0.3, tuxpaint-data: 0.3}\n")
    assert DistillConfig.load(path).source_weights == {"gcompris-qt-data": 0.3, "tuxpaint-data": 0.3}
    path.write_text("source_weights: {gcompris-qt-data: lots}\n")
    with pytest.raises(SystemExit, match=r"source_weights.gcompris-qt-data: Input should be a valid number"):
        DistillConfig.load(path)
