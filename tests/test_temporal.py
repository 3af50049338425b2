"""The motion-adaptive temporal filter: a static noisy scene settles, a moving
object is not smeared, a scene change passes straight through; and the real
shipped model on a real video flickers less with it than without."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from edge_agent.runtime.bundle import MANIFEST, load_bundle, write_manifest
from edge_agent.errors import BundleError
from edge_agent.media import VideoReader
from edge_agent.runtime.temporal import TemporalFilter, TemporalSpec

from conftest import ROOT
from test_cli import run_cli

SPEC = TemporalSpec(strength=0.95, motion_low=2.0, motion_high=4.0)
SHIPPED = ROOT / "edge_agent" / "models" / "default"


def scene(h: int = 96, w: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    grey = 0.4 + 0.2 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.float32)


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 0.03) -> np.ndarray:
    return (frame + rng.normal(0, sigma, frame.shape)).astype(np.float32)


def flicker(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])]))


def test_static_noise_settles_and_the_error_drops():
    rng, clean, f = np.random.default_rng(0), scene(), TemporalFilter(SPEC)
    raw = [noisy(clean, rng) for _ in range(40)]
    out = [f(x) for x in raw]
    assert flicker(out[10:]) < flicker(raw[10:]) / 8
    assert np.abs(out[-1] - clean).mean() < np.abs(raw[-1] - clean).mean() / 3


def test_a_moving_object_is_not_smeared():
    rng, f = np.random.default_rng(1), TemporalFilter(SPEC)
    for t in range(20):
        frame = scene()
        x = 10 + 4 * t
        frame[40:56, x:x + 16] = 0.95
        out = f(noisy(frame, rng))
        # the object is where the camera saw it, at full brightness ...
        assert out[42:54, x + 2:x + 14].mean() > 0.9
    # ... and no ghost of it is left where it was a few frames ago
    background = scene()[40:56, x - 16:x - 4]
    assert abs(out[40:56, x - 16:x - 4].mean() - background.mean()) < 0.02


def test_a_scene_change_and_a_new_size_pass_straight_through():
    rng, f = np.random.default_rng(2), TemporalFilter(SPEC)
    for _ in range(10):
        f(noisy(scene(), rng))
    lights_on = noisy(scene() * 0.5 + 0.45, rng)  # every pixel brighter by 0.15 or more
    assert np.abs(f(lights_on) - lights_on).max() < 0.02  # everything changed: the new frame wins
    small = noisy(scene(48, 64), rng)
    assert np.array_equal(f(small), small)
    f.reset()
    assert np.array_equal(f(small), small)


def test_a_non_finite_frame_does_not_poison_the_stream():
    rng, f = np.random.default_rng(5), TemporalFilter(SPEC)
    for _ in range(3):
        f(noisy(scene(), rng))
    broken = noisy(scene(), rng)
    broken[10, 10] = np.nan
    f(broken)
    after = [f(noisy(scene(), rng)) for _ in range(3)]
    assert all(np.isfinite(a).all() for a in after)


ADAPTIVE = TemporalSpec(strength=0.95, motion_low=2.0, motion_high=4.0, noise_ref=2.0, max_strength=0.99)


def test_the_weight_of_the_past_rises_with_the_noise_level_up_to_its_cap():
    assert ADAPTIVE.strength_at(1.0 / 255) == 0.95  # quieter than the reference: the tuned strength
    assert ADAPTIVE.strength_at(4.0 / 255) == pytest.approx(0.975)  # twice as noisy: half the residual weight
    assert ADAPTIVE.strength_at(1.0) == 0.99  # capped
    assert SPEC.strength_at(1.0) == 0.95  # no noise_ref: fixed
    assert TemporalSpec.from_manifest(ADAPTIVE.to_manifest()) == ADAPTIVE
    assert TemporalSpec.from_manifest(SPEC.to_manifest()) == SPEC


def test_a_noisier_stream_is_smoothed_harder_and_a_moving_object_still_is_not_smeared():
    rng = np.random.default_rng(5)
    raw = [noisy(scene(), rng, sigma=0.12) for _ in range(40)]  # a very dark scene's residual noise
    fixed, adaptive = TemporalFilter(SPEC), TemporalFilter(ADAPTIVE)
    assert flicker([adaptive(x) for x in raw][10:]) < 0.7 * flicker([fixed(x) for x in raw][10:])
    f = TemporalFilter(ADAPTIVE)
    for t in range(20):  # at half that noise (fixed strength: 0.95 bright, trail 0.03)
        frame = scene()
        x = 10 + 4 * t
        frame[40:56, x:x + 16] = 0.95
        out = f(noisy(frame, rng, sigma=0.06))
    assert out[42:54, x + 2:x + 14].mean() > 0.9
    assert abs(out[40:56, x - 16:x - 4].mean() - scene()[40:56, x - 16:x - 4].mean()) < 0.08


def test_strength_zero_is_off():
    rng, f = np.random.default_rng(3), TemporalFilter(TemporalSpec(0.0, 2.0, 3.0))
    frames = [noisy(scene(), rng) for _ in range(3)]
    assert all(np.array_equal(f(x), x) for x in frames)


@pytest.mark.parametrize("entry", [{"strength": 1.0, "motion_low": 2, "motion_high": 3},
                                   {"strength": 0.9, "motion_low": 3, "motion_high": 2},
                                   {"strength": 0.9, "motion_low": 2}, "strong",
                                   {"strength": 0.9, "motion_low": 2, "motion_high": float("inf")},
                                   {"strength": 0.9, "motion_low": 2, "motion_high": 4, "noise_ref": 0},
                                   {"strength": 0.9, "motion_low": 2, "motion_high": 4, "noise_ref": 2,
                                    "max_strength": 0.8}])
def test_a_bundle_with_malformed_temporal_settings_is_refused(tiny_bundle, tmp_path, entry):
    bad = shutil.copytree(tiny_bundle, tmp_path / "bad")
    manifest = json.loads((bad / MANIFEST).read_text())
    manifest["settings"]["temporal"] = entry
    write_manifest(bad, manifest)
    with pytest.raises(BundleError, match="settings"):
        load_bundle(bad)


def static_night_video(path, frames: int = 12, w: int = 192, h: int = 128):
    """A fixed camera on a dim street: the same scene, fresh sensor noise each frame."""
    rng = np.random.default_rng(4)
    base = (scene(h, w) * np.array([0.5, 0.3, 0.12], np.float32) * 255).astype(np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for _ in range(frames):
        frame = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        writer.write(frame[..., ::-1])
    writer.release()
    return path


@pytest.mark.skipif(not (SHIPPED / MANIFEST).exists(), reason="no shipped model in this checkout")
def test_the_shipped_model_on_a_static_video_flickers_less_with_the_filter(tmp_path):
    assert load_bundle(SHIPPED).temporal is not None
    src = static_night_video(tmp_path / "street.avi")
    results = {}
    for name, extra in (("filtered", []), ("plain", ["--no-temporal"])):
        dst = tmp_path / f"{name}.avi"
        proc = run_cli("enhance", str(src), "-o", str(dst), "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr
        frames = [f.astype(np.float32) for f in VideoReader(dst)]
        assert len(frames) == 12
        results[name] = flicker(frames[4:])
    assert results["filtered"] < results["plain"] / 2, results


def test_the_agent_keeps_one_stream_and_restarts_it_where_the_stream_breaks(tiny_bundle, video_file, tmp_path):
    import time

    from edge_agent.agent.loop import Agent
    from edge_agent.agent.camera import Frame
    from edge_agent.config import parse_config

    cfg = parse_config({"camera": {"source": str(video_file)}, "state_dir": str(tmp_path / "state"),
                        "model": {"bundle": str(tiny_bundle), "backend": "onnxruntime", "precision": "fp32"}})
    agent = Agent(cfg)
    assert agent.stream.filter is not None and agent.health()["temporal_filter"]
    frame = Frame(np.full((64, 96, 3), 40, np.uint8), time.time(), 0)
    history = lambda: agent.stream.filter._previous  # noqa: E731
    agent.process(frame)
    assert history() is not None
    agent.cmd_set_steps({"steps": 3})
    assert history() is None  # another sampler: its outputs do not continue the old ones
    agent.process(frame)
    agent.cmd_enhance({"enabled": False})
    assert history() is None  # the raw camera is shown; re-enabling must not blend in an old frame
    agent.cmd_enhance({"enabled": True})
    agent.process(frame)
    agent.camera.reconnects += 1  # the camera dropped and came back
    agent.process(frame)
    assert agent.stream.filter._level is None  # restarted from the reconnected frame
    agent.process(frame)
    previous_stream = agent.stream
    agent.use_enhancer(agent.enhancer)
    assert agent.stream is not previous_stream and history() is None
    off = Agent(parse_config({"camera": {"source": str(video_file)}, "state_dir": str(tmp_path / "state2"),
                              "model": {"bundle": str(tiny_bundle), "backend": "onnxruntime", "temporal": False}}))
    assert off.stream.filter is None and not off.health()["temporal_filter"]
