"""Shared fixtures: a tiny bundle built without torch (tests/tiny_onnx.py:
numpy + onnx, random weights: it exercises the runtime, it is not the
product), real images and real video files; and `--fail-on-skip`, which fails
the run when a test skips for a reason outside ALLOWED_SKIPS (CI and
tests/run.sh use it)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def night_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 30 + 20 * np.sin(xx / 9.0 + seed) * np.cos(yy / 13.0)
    img = base[..., None] * np.array([1.0, 0.7, 0.4]) + rng.normal(0, 5, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_video(path: Path, frames: int, w: int = 96, h: int = 64, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(frames):
        writer.write(night_image(h, w, i)[..., ::-1])
    writer.release()
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_agent.runtime.sampler import karras_sigmas
    from tiny_onnx import build_tiny_bundle

    frames = [night_image(96, 128, s) for s in range(3)]
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    return build_tiny_bundle(out, frames, night_image(48, 80, 7),
                             {n: karras_sigmas(n, 0.1, 40).tolist() for n in (2, 3, 4)})


# Slow tests in files other helpers own, marked here until their files carry
# @pytest.mark.slow themselves (`pytest -m "not slow"` leaves them out; CI runs them).
SLOW_ELSEWHERE = (
    "tests/test_native_eval.py::test_native_table_end_to_end_on_a_tiny_set",  # ~90 s: a whole evaluation table
    "tests/test_fuzz_commands.py::",  # ~130 s: property-based fuzzing against a live agent
    "tests/test_kill_points.py::",  # ~30 s: kill -9 at every point of an update
    "tests/test_updates.py::test_kill_9_at_any_stage_boots_a_valid_model",  # ~35 s: one agent per stage
    "tests/test_export.py::test_one_command_pipeline",  # ~20 s: trains, distils, exports, quantises
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW_ELSEWHERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "night"
    folder.mkdir()
    for i, (h, w) in enumerate([(48, 80), (70, 50), (130, 150)]):
        cv2.imwrite(str(folder / f"cam{i}.png"), night_image(h, w, i)[..., ::-1])
    return folder


@pytest.fixture()
def video_file(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi", 6)


from mqtt_fixtures import broker  # noqa: E402,F401  (the real-Mosquitto fixture, for every test module)
from skip_guard import (pytest_addoption, pytest_collectreport, pytest_runtest_logreport,  # noqa: E402,F401
                        pytest_sessionfinish, pytest_terminal_summary)
