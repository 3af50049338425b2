"""`edge-agent enhance` as a user runs it: the output paths it refuses (the
input itself, an image into a folder, a folder into a file, a folder into
itself), each refused before any work with the path named and nothing
touched; and the README's quick-start command on the shipped sample with
the shipped model. Assertions are on exit codes, files on disk and the
named path, not on wording."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT, night_image, write_video


def enhance(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "enhance", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: what must stay untouched."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(r: subprocess.CompletedProcess, path: Path) -> None:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert path.name in r.stderr, r.stderr  # the refused path is named


def test_output_that_is_the_input_is_refused(tiny_bundle, tmp_path):
    video = write_video(tmp_path / "clip.avi", 4)
    before = snapshot(tmp_path)
    same = tmp_path / "sub" / ".." / "clip.avi"  # the same file, spelt differently
    (tmp_path / "sub").mkdir()
    r = enhance(str(video), "-o", str(same), "--model", str(tiny_bundle), "--backend", "onnxruntime", "--quiet")
    assert_refused(r, video)
    assert snapshot(tmp_path) == before


def test_image_into_an_existing_folder_is_refused(tiny_bundle, tmp_path):
    image = tmp_path / "cam.png"
    cv2.imwrite(str(image), night_image(48, 80, 1)[..., ::-1])
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("earlier result")
    before = snapshot(tmp_path)
    r = enhance(str(image), "-o", str(folder), "--model", str(tiny_bundle), "--backend", "onnxruntime", "--quiet")
    assert_refused(r, folder)
    assert snapshot(tmp_path) == before


def test_folder_into_a_file_is_refused(tiny_bundle, image_folder, tmp_path):
    target = tmp_path / "out.png"
    cv2.imwrite(str(target), night_image(20, 20, 3)[..., ::-1])
    before = snapshot(tmp_path)
    r = enhance(str(image_folder), "-o", str(target), "--model", str(tiny_bundle), "--backend", "onnxruntime",
                "--quiet")
    assert_refused(r, target)
    assert snapshot(tmp_path) == before


def test_folder_into_itself_is_refused(tiny_bundle, image_folder, tmp_path):
    before = snapshot(tmp_path)
    r = enhance(str(image_folder), "-o", str(image_folder / "."), "--model", str(tiny_bundle), "--backend",
                "onnxruntime", "--quiet")
    assert_refused(r, image_folder)
    assert snapshot(tmp_path) == before


def test_readme_quick_start_on_the_shipped_sample(tmp_path):
    """README: `edge-agent enhance samples/night_vtest.avi -o enhanced.avi`
    with the shipped model and its defaults (OpenVINO, INT8, 2 steps)."""
    sample = ROOT / "samples" / "night_vtest.avi"
    out = tmp_path / "enhanced.avi"
    r = enhance(str(sample), "-o", str(out), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    src, dst = cv2.VideoCapture(str(sample)), cv2.VideoCapture(str(out))
    for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FPS):
        assert dst.get(prop) == pytest.approx(src.get(prop)), prop
    frames_in, frames_out = [], []
    for cap, frames in ((src, frames_in), (dst, frames_out)):
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
    assert len(frames_in) == len(frames_out) == 30
    # the night clip is dark; the model exposes it
    assert np.mean(frames_out) > np.mean(frames_in) + 10, (np.mean(frames_in), np.mean(frames_out))
