"""Each CLI command, end to end, and every bad input: one error line, a
non-zero exit, no traceback, nothing half-written."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.media import VideoReader

from conftest import ROOT, night_image, write_video


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def frame_count(path: Path) -> int:
    return sum(1 for _ in VideoReader(path))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_enhance_folder_and_video(tiny_bundle, image_folder, video_file, tmp_path, backend, precision):
    common = ["--model", str(tiny_bundle), "--backend", backend, "--precision", precision, "--quiet"]
    out_dir = tmp_path / "out"
    assert main(["enhance", str(image_folder), "-o", str(out_dir), *common]) == 0
    for src in image_folder.iterdir():
        assert cv2.imread(str(out_dir / src.name)).shape == cv2.imread(str(src)).shape
    out_video = tmp_path / "out.avi"
    assert main(["enhance", str(video_file), "-o", str(out_video), *common]) == 0
    src, dst = VideoReader(video_file).info, VideoReader(out_video).info
    assert (dst.width, dst.height, dst.fps) == (src.width, src.height, src.fps)
    assert frame_count(out_video) == frame_count(video_file) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_enhance_image_with_steps_seed_and_tiles(tiny_bundle, tmp_path):
    src = tmp_path / "in.jpg"
    cv2.imwrite(str(src), night_image(90, 140)[..., ::-1])
    outs = []
    for seed in ("1", "1", "2"):
        dst = tmp_path / f"o{len(outs)}.png"
        assert main(["enhance", str(src), "-o", str(dst), "--model", str(tiny_bundle), "--steps", "3", "--seed", seed,
                     "--tile", "64x64", "--batch", "2", "--backend", "onnxruntime"]) == 0
        outs.append(cv2.imread(str(dst)))
    assert outs[0].shape == (90, 140, 3)
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])


def test_bench_json(tiny_bundle):
    r = run_cli("bench", "--model", str(tiny_bundle), "--resolution", "160x96", "--frames", "3", "--warmup", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    for key in ("p50_ms", "p95_ms", "mean_ms", "fps", "ms_per_megapixel", "backend", "device", "precision", "steps"):
        assert key in result
    assert result["resolution"] == "160x96" and result["frames"] == 3 and result["max_ms"] >= result["p50_ms"] > 0


def test_doctor(tiny_bundle, tmp_path):
    r = run_cli("doctor", "--model", str(tiny_bundle), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["model"]["verified"] and "CPU" in report["runtimes"]["openvino"]["devices"]
    assert "CPU" in report["runtimes"]["onnxruntime"]["devices"]
    tampered = Path(shutil.copytree(tiny_bundle, tmp_path / "t"))
    (tampered / "model_fp32.onnx").write_bytes(b"x" * 10)
    r = run_cli("doctor", "--model", str(tampered))
    assert r.returncode != 0 and "NOT usable" in r.stdout and "model_fp32.onnx" in r.stdout


def write_truncated_video(tmp_path: Path) -> Path:
    good = write_video(tmp_path / "full.avi", 12)
    bad = tmp_path / "truncated.avi"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    return bad


def huge_png_header(w: int, h: int) -> bytes:
    """A PNG that claims w x h pixels (a decompression bomb's header)."""
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


BAD_INPUTS = {
    "missing file": (lambda t: ["enhance", str(t / "nope.png"), "-o", str(t / "o.png")], "does not exist"),
    "unsupported format": (lambda t: ["enhance", str(t / "notes.txt"), "-o", str(t / "o.png")], "unsupported format"),
    "empty image": (lambda t: ["enhance", str(t / "empty.png"), "-o", str(t / "o.png")], "empty"),
    "corrupt image": (lambda t: ["enhance", str(t / "corrupt.jpg"), "-o", str(t / "o.png")], "cannot be decoded"),
    "huge image": (lambda t: ["enhance", str(t / "huge.png"), "-o", str(t / "o.png")], "too large"),
    "corrupt video": (lambda t: ["enhance", str(t / "corrupt.avi"), "-o", str(t / "o.avi")], "cannot be decoded"),
    "unsupported output": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.gifx")], "unsupported image format"),
    "missing model": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--model", str(t / "nomodel")], "not found"),
    "unknown backend": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--backend", "tvm"], "invalid choice"),
    "unknown device": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--device", "TPU"], "device 'TPU'"),
    "unknown precision": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--precision", "int4"], "invalid choice"),
    "unsupported steps": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--steps", "9"], "steps 9"),
    "bad tile": (lambda t: ["enhance", str(t / "ok.png"), "-o", str(t / "o.png"), "--tile", "63x64"], "multiples"),
    "bad resolution": (lambda t: ["bench", "--resolution", "0x5"], "resolution"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_error_line(tiny_bundle, tmp_path, case):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    (tmp_path / "huge.png").write_bytes(huge_png_header(60000, 60000))
    (tmp_path / "corrupt.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 20)
    cv2.imwrite(str(tmp_path / "ok.png"), night_image(32, 32)[..., ::-1])
    args, expected = BAD_INPUTS[case]
    argv = args(tmp_path)
    if "--model" not in argv:
        argv += ["--model", str(tiny_bundle)]
    r = run_cli(*argv)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.avi").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_tampered_model_is_refused(tiny_bundle, tmp_path):
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    with open(bundle / "model_int8.onnx", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    cv2.imwrite(str(tmp_path / "in.png"), night_image(32, 32)[..., ::-1])
    r = run_cli("enhance", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--model", str(bundle))
    assert r.returncode == 3 and "model_int8.onnx does not match its sha256" in r.stderr.replace("'", "")
    assert not (tmp_path / "o.png").exists()


def test_failed_video_keeps_the_existing_output(tiny_bundle, tmp_path):
    existing = tmp_path / "o.avi"
    existing.write_bytes(b"earlier result")
    r = run_cli("enhance", str(write_truncated_video(tmp_path)), "-o", str(existing), "--model", str(tiny_bundle))
    assert r.returncode != 0 and existing.read_bytes() == b"earlier result"


def test_bad_image_in_a_folder_is_reported_and_the_rest_done(tiny_bundle, image_folder, tmp_path):
    (image_folder / "broken.png").write_bytes(b"not a png")
    r = run_cli("enhance", str(image_folder), "-o", str(tmp_path / "out"), "--model", str(tiny_bundle), "--quiet")
    assert r.returncode == 1 and r.stderr.count("error:") == 1 and "broken.png" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cam0.png", "cam1.png", "cam2.png"]


def test_runtime_never_imports_torch(tiny_bundle, tmp_path):
    cv2.imwrite(str(tmp_path / "in.png"), night_image(40, 40)[..., ::-1])
    code = ("import sys; sys.modules['torch'] = None\n"
            "from edge_agent.cli import main\n"
            f"rc = main(['enhance', {str(tmp_path / 'in.png')!r}, '-o', {str(tmp_path / 'o.png')!r}, "
            f"'--model', {str(tiny_bundle)!r}])\n"
            "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
            "raise SystemExit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_forensic_mode_writes_maps_and_custody_record(tiny_bundle, image_folder, video_file, tmp_path):
    import hashlib
    common = ["--model", str(tiny_bundle), "--backend", "onnxruntime", "--quiet"]
    assert main(["enhance", str(image_folder), "-o", str(tmp_path / "out"), "--uncertainty", str(tmp_path / "unc"), *common]) == 0
    plain = tmp_path / "plain"
    assert main(["enhance", str(image_folder), "-o", str(plain), *common]) == 0
    record = json.loads((tmp_path / "unc.json").read_text())
    assert record["model"]["name"] == "tiny-test" and len(record["settings"]["uncertainty_seeds"]) >= 2
    assert len(record["items"]) == 3
    for item in record["items"]:
        out = Path(item["output"])
        assert hashlib.sha256(out.read_bytes()).hexdigest() == item["output_sha256"]
        assert hashlib.sha256(Path(item["input"]).read_bytes()).hexdigest() == item["input_sha256"]
        assert cv2.imread(item["uncertainty"]).shape == cv2.imread(str(out)).shape
        # the forensic output is the same frame a plain run gives
        assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(plain / out.name)))
    assert main(["enhance", str(video_file), "-o", str(tmp_path / "v.avi"), "--uncertainty", str(tmp_path / "vu.avi"), *common]) == 0
    assert frame_count(tmp_path / "vu.avi") == 6
    assert json.loads((tmp_path / "vu.avi.json").read_text())["items"][0]["frames"] == 6
