"""The native-resolution quality table end to end on a tiny set: a synthetic
static-camera clip in place of vtest.avi, the tiny bundle and a tiny torch
checkpoint as candidates, the peers (outputs cached on disk), the judges and
the video scores, into one JSON and one Markdown file."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.native_quality import main as native_quality
from export.native_eval import Cache, digest
from export.native_frames import hd_frame, vtest_indices
from export.peers import bm3d_cbm3d


def clip(path: Path, frames: int = 12, w: int = 640, h: int = 480) -> Path:
    """A bright static scene with one moving block, written losslessly enough (MJPG, high quality)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 50 * np.sin(xx / 41.0) * np.cos(yy / 29.0) + 20 * np.sin((xx - yy) / 9.0)
    still = np.clip(base[..., None] * np.array([1.0, 0.9, 0.8]), 0, 255).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for i in range(frames):
        f = still.copy()
        f[200:280, 40 + 20 * i:100 + 20 * i] = (30, 40, 200)
        writer.write(f[..., ::-1])
    writer.release()
    return path


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch = pytest.importorskip("torch")
    from export.network import Denoiser, NetConfig

    torch.manual_seed(0)
    cfg = NetConfig(unshuffle=2, channels=[8, 16], blocks=[1, 1], emb_dim=16)
    model = Denoiser(cfg)
    path = tmp_path / "ckpt" / "last.pt"
    path.parent.mkdir()
    torch.save({"net": cfg.to_dict(), "ema": model.state_dict(), "model": model.state_dict(), "step": 7}, path)
    return path


def test_native_table_end_to_end_on_a_tiny_set(tiny_bundle, tiny_checkpoint, tmp_path):
    video = clip(tmp_path / "cam.avi")
    out = tmp_path / "results" / "native_quality"
    cache = tmp_path / "cache"
    args = ["--model", str(tiny_bundle), "--bundle", f"{tiny_bundle}::fp32", "--checkpoint", f"{tiny_checkpoint}:1,2",
            "--video", str(video),
            "--data", str(tmp_path / "no-data"), "--cache-dir", str(cache), "--vtest", "2", "--photos", "0",
            "--hd", "0", "--print-scenes", "1", "--clip-frames", "3", "--seeds", "2", "--no-bm3d",
            "--conditions", "street_sodium", "very_dark", "--video-conditions", "street_sodium", "--out", str(out)]
    assert native_quality(args) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    table = out.with_suffix(".md").read_text()
    names = list(result["enhancers"])
    assert names[:3] == ["identity (night input)", "CLAHE + NLM", "gamma + grey-world + NLM"]
    assert any(n.startswith("tiny-test") and "(OpenVINO INT8" in n for n in names)
    assert any(n.startswith(str(tiny_bundle)) and "(OpenVINO FP32" in n for n in names)  # --bundle PATH::fp32
    assert any("euler-1 (torch)" in n for n in names) and any("euler-2 (torch)" in n for n in names)
    for name, e in result["enhancers"].items():
        assert e["stills"]["real CCTV"]["pairs"] == 4  # 2 frames x 2 conditions, at 640x480
        assert e["stills"]["real CCTV"]["false_per_frame_zoom"] >= 0 and "people_recall_zoom" in e["stills"]["real CCTV"]
        assert e["stills"]["photos + 1280x720"] is None
        assert {r["condition"] for r in e["rows"]} == {"street_sodium", "very_dark"}
        per_seed = 9 * 2  # 9 targets x 2 conditions
        assert e["print"]["qr"]["targets"] + e["print"]["text"]["targets"] == per_seed * len(e["seeds"])
        assert e["print_own_seed"]["qr"]["targets"] + e["print_own_seed"]["text"]["targets"] == per_seed
        assert e["seconds_per_frame"]["640x480"] >= 0
        assert e["kind"] == "peer" or len(e["seeds"]) == 2
    ref = result["clean reference"]["print"]
    assert ref["qr"]["wrong"] == 0 and ref["text"]["wrong"] == 0
    video_rows = result["video"]
    assert video_rows["clean clip"]["flicker"] < 1.0
    assert any(n.endswith("+ temporal filter") for n in video_rows)
    assert result["meta"]["sets"]["real CCTV"] == {"frames": 2, "sizes": ["640x480"]}
    for header in ("real CCTV PSNR", "GT-mean", "Task judges", "people recall", "people recall, 2x zoom", "Video",
                   "Per night condition"):
        assert header in table
    # the peers' outputs are on disk by input hash, with their time
    assert len(list((cache / "peers" / "CLAHE + NLM").glob("*.png"))) >= 4
    assert native_quality(args) == 0  # a rerun reads the caches and writes the same scores
    again = json.loads(out.with_suffix(".json").read_text())
    for name in names:
        assert again["enhancers"][name]["stills"] == result["enhancers"][name]["stills"]


def test_peer_cache_returns_the_stored_output(tmp_path):
    cache = Cache(tmp_path)
    night = np.random.default_rng(0).integers(0, 60, (32, 48, 3), dtype=np.uint8)
    calls = []

    def peer(x):
        calls.append(1)
        return 255 - x

    a, ta = cache.peer_output("p", peer, night)
    b, tb = cache.peer_output("p", peer, night)
    assert np.array_equal(a, b) and ta == tb and len(calls) == 1
    assert cache.score("k", lambda: {"v": 1}, a) == {"v": 1} == cache.score("k", lambda: {"v": 2}, a)
    assert digest(night) != digest(night[:, ::-1])


def test_cbm3d_peer_runs_on_the_exposure_corrected_frame():
    night = np.random.default_rng(1).integers(0, 40, (48, 64, 3), dtype=np.uint8)
    out = bm3d_cbm3d(night)
    assert out.shape == night.shape and out.dtype == np.uint8 and out.mean() > night.mean()
    grey = np.repeat(night[..., :1], 3, axis=-1)  # IR frames: CBM3D's colour transform would divide by zero
    out = bm3d_cbm3d(grey)
    assert out.mean() > grey.mean() and np.array_equal(out[..., 0], out[..., 2])


def test_frame_sets_are_native_and_spread():
    assert hd_frame(np.zeros((1600, 2560, 3), np.uint8)).shape == (720, 1280, 3)
    assert hd_frame(np.zeros((1110, 1282, 3), np.uint8)).shape == (720, 1280, 3)  # a crop, not a resize
    full = vtest_indices(795, 42)
    assert len(full) == 42 and full[0] == 0 and full[-1] == 794 and len(set(full)) == 42
    assert set(vtest_indices(795, 6)) <= set(full)  # quick runs reuse the full run's cache


def test_print_backgrounds_keep_the_first_six_and_add_frames_between_the_stills():
    from export.native_frames import VTEST_FRAMES, print_backgrounds, vtest_indices

    full = vtest_indices(795, VTEST_FRAMES)
    assert print_backgrounds(full, 6) == full[3::7] and print_backgrounds(full, 4) == full[3::7][:4]
    more = print_backgrounds(full, 24)
    assert more[:6] == full[3::7] and len(set(more)) == 24
    assert not set(more[6:]) & set(full)  # the added backgrounds are no scored still
    assert max(more[6:]) - min(more[6:]) > 795 // 2  # spread over the clip, not its start


def test_a_bundle_with_an_unknown_precision_is_refused(tiny_bundle, tmp_path, capsys):
    assert native_quality(["--bundle", f"{tiny_bundle}:1:fp16", "--out", str(tmp_path / "x")]) == 2
    assert "precision 'fp16'; allowed: int8, fp32" in capsys.readouterr().err
