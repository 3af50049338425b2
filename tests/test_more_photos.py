"""The opt-in photographs of export/more_photos.py: cutting WebP files out of a
Qt resource bundle, and names that the split rule treats as single scenes."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")  # export/ is the training side; its tests run with the export extra

from export import more_photos, sources  # noqa: E402


def _webp(h: int, w: int, seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".webp", rgb, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
    assert ok
    return data.tobytes()


def test_webp_files_cuts_every_whole_file_out_of_a_bundle():
    a, b = _webp(420, 500, 1), _webp(410, 440, 2)
    fake_riff = b"RIFF" + struct.pack("<I", 4) + b"WAVE"  # another RIFF kind: skipped
    truncated = _webp(400, 400, 3)[:-10]  # its size points past the end: skipped
    blob = b"qres\x00\x01" + a + b"\x00" * 7 + fake_riff + b + b"RIFF" + truncated
    found = list(more_photos.webp_files(blob))
    assert found == [a, b]


def test_qt_resource_photos_keeps_photographs_and_drops_thumbnails(tmp_path: Path):
    rcc = tmp_path / more_photos.GCOMPRIS_RCC
    rcc.mkdir(parents=True)
    blob = _webp(420, 500, 1) + _webp(240, 320, 2) + _webp(400, 600, 3)  # the middle one is a thumbnail
    (rcc / "explore_monuments.rcc").write_bytes(b"\x00" * 16 + blob)
    got = list(more_photos.qt_resource_photos(tmp_path, "explore_monuments"))
    assert [(name, rgb.shape) for name, rgb in got] == [("monuments000p", (420, 500, 3)),
                                                        ("monuments001p", (400, 600, 3))]


def test_more_photo_names_are_scenes_not_video_frames():
    """The split rule groups `name_0012`-style names as frames of one video; the
    photographs' names must each be their own group so each gets its own draw."""
    for name in ("gcompris_monuments007p", "lomiri_Bridge_by_Sander_Klootwijk", "tuxpaint_burnt_bark",
                 "palapeli_castle-maintenon"):
        assert sources._video_group(name) == name
