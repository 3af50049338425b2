"""Task judges nobody on this project wrote: does an enhanced frame still
serve a security operator or an investigator?

* **People**: OpenCV's HOG people detector (Dalal-Triggs, the SVM that ships
  inside OpenCV). OpenCV 5 (this project's runtime dependency) moved HOG out of
  the main package, so the judge runs OpenCV 4 (``opencv-python-headless``
  ``HOG_OPENCV`` from PyPI, installed into ``~/.cache/edge-agent/judges`` with
  ``pip --target``, never into the project's environment) in a worker
  process. Recall and false detections are counted against the detector's own
  detections on the clean frame (IoU >= 0.5): the clean frame is the best any
  enhancer can do for this detector. HOG's window is 128 px tall, so at the
  frame's own scale it never sees a person shorter than that; a second
  reading runs the same detector on frames upscaled 2x (``PEOPLE_ZOOM``, what
  an operator zooming in gives it): on vtest's 768x576 frames it finds about
  twice as many people on the clean frame (36 against 17 on six stills), and
  most detections on an enhanced frame that the native-scale reference counts
  as false are people it missed (session 12).
* **Small print**: QR codes read by OpenCV's ``QRCodeDetector`` and plate-like
  text read by Tesseract (Debian ``tesseract-ocr``, LSTM engine, through
  ``pytesseract``), on targets pasted by ``export/print_render.py``. The
  reader is told where the target is (an investigator zooms in) and upscales
  the crop; it is not told what it says. Each target is **read** (exact
  match), **missed** (nothing, a partial or a malformed string) or **wrong**:
  a string a reader would accept that is not the truth (a QR payload that
  differs; a plate of the valid form, two letters, two digits, three letters,
  that differs, as a plate reader's syntax check would pass it). A wrong read
  is invented or altered detail, the worst outcome for forensic use.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from .print_render import DIGITS, LETTERS, TEXT_CHARSET, PrintTarget

HOG_OPENCV = "4.14.0.94"  # the judge's OpenCV: fixed, so judgements do not move with the project's OpenCV
JUDGE_DIR = Path(os.environ.get("EDGE_AGENT_JUDGES", Path.home() / ".cache" / "edge-agent" / "judges"))
IOU_MATCH = 0.5
PEOPLE_ZOOM = 2  # the second people reading: frames upscaled this much before HOG, boxes scaled back
HOG_PARAMS = {"winStride": (8, 8), "padding": (8, 8), "scale": 1.05}
TEXT_CAP_PX = 32  # crops are upscaled so glyphs are this tall for Tesseract
QR_MODULE_PX = (6, 4, 8)  # ... and QR modules this wide for the QR detector (tried in turn)
PLATE_FORM = re.compile(f"[{LETTERS}]{{2}}[{DIGITS}]{{2}}[{LETTERS}]{{3}}")  # what a plate reader accepts

_HOG_WORKER = r"""
import json, sys
import numpy as np, cv2
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
params = json.loads(sys.argv[1])
params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
out = sys.stdout
out.write(json.dumps({"opencv": cv2.__version__}) + "\n"); out.flush()
inp = sys.stdin.buffer
while True:
    header = inp.readline()
    if not header:
        break
    h, w = json.loads(header)
    grey = np.frombuffer(inp.read(h * w), np.uint8).reshape(h, w)
    rects, weights = hog.detectMultiScale(grey, **params)
    rects = [list(map(int, r)) for r in np.asarray(rects).reshape(-1, 4)]
    out.write(json.dumps({"boxes": rects, "scores": np.asarray(weights, float).ravel().tolist()}) + "\n")
    out.flush()
"""


def judge_opencv_path() -> Path:
    return JUDGE_DIR / f"opencv-{HOG_OPENCV}"


def install_judge_opencv() -> Path:
    """OpenCV 4 for the HOG judge, from PyPI into the judges' own folder (not
    the project's environment, which has OpenCV 5)."""
    target = judge_opencv_path()
    if (target / "cv2").is_dir():
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp),
                    f"opencv-python-headless=={HOG_OPENCV}"], check=True)
    tmp.replace(target)
    return target


class PeopleDetector:
    """OpenCV 4's HOG people detector in a worker process (frames over a pipe)."""

    def __init__(self) -> None:
        path = install_judge_opencv()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
        env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen([sys.executable, "-c", _HOG_WORKER, json.dumps(HOG_PARAMS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        hello = json.loads(self.proc.stdout.readline() or b"{}")
        if not str(hello.get("opencv", "")).startswith("4."):
            self.close()
            raise RuntimeError(f"HOG judge did not start with OpenCV 4 (got {hello}); "
                               f"delete {path} and rerun to reinstall it")
        self.version = hello["opencv"]

    def detect(self, rgb: np.ndarray, zoom: int = 1) -> dict:
        """People boxes [x, y, w, h] in ``rgb``'s pixels, found on the frame upscaled ``zoom`` times
        (bicubic) when ``zoom`` > 1."""
        grey = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        if zoom > 1:
            grey = cv2.resize(grey, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        h, w = grey.shape
        self.proc.stdin.write(json.dumps([h, w]).encode() + b"\n" + grey.tobytes())
        self.proc.stdin.flush()
        found = json.loads(self.proc.stdout.readline())
        if zoom > 1:
            found["boxes"] = [[int(round(v / zoom)) for v in box] for box in found["boxes"]]
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

    def __enter__(self) -> "PeopleDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iou(a: list[int], b: list[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def match_people(reference: list[list[int]], found: list[list[int]]) -> dict[str, int]:
    """Greedy one-to-one matching at IoU >= 0.5: hits (reference people found
    again), misses and false detections (found where the clean frame has none)."""
    pairs = sorted(((iou(r, f), i, j) for i, r in enumerate(reference) for j, f in enumerate(found)), reverse=True)
    used_r, used_f = set(), set()
    for score, i, j in pairs:
        if score < IOU_MATCH:
            break
        if i not in used_r and j not in used_f:
            used_r.add(i)
            used_f.add(j)
    return {"reference": len(reference), "hits": len(used_r), "false": len(found) - len(used_f)}


def _crop(rgb: np.ndarray, target: PrintTarget, margin: int) -> np.ndarray:
    x0, y0, x1, y1 = target.box
    h, w = rgb.shape[:2]
    return rgb[max(0, y0 - margin):min(h, y1 + margin), max(0, x0 - margin):min(w, x1 + margin)]


def normalise_text(s: str) -> str:
    return re.sub(f"[^{TEXT_CHARSET}]", "", s.upper())


def _tesseract_config() -> str:
    return f"--oem 1 --psm 7 -c tessedit_char_whitelist={TEXT_CHARSET}"


def tesseract_version() -> str:
    import pytesseract

    return str(pytesseract.get_tesseract_version())


def rectify(rgb: np.ndarray, target: PrintTarget, scale: float, inset: float) -> np.ndarray:
    """The sign's face, perspective-corrected to a rectangle at ``scale`` times
    its size, ``inset`` frame pixels trimmed off each edge (what an
    investigator's rectify-and-zoom tool shows)."""
    w, h = target.sign_px
    src = np.float32(target.quad)
    out_w, out_h = int(round((w - 2 * inset) * scale)), int(round((h - 2 * inset) * scale))
    dst = np.float32([[-inset, -inset], [w - inset, -inset], [w - inset, h - inset], [-inset, h - inset]]) * scale
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def read_text(rgb: np.ndarray, target: PrintTarget) -> str:
    """Tesseract's reading of one text target (rectified, upscaled grey sign face, one line)."""
    import pytesseract

    face = rectify(rgb, target, TEXT_CAP_PX / target.size_px, 0.3 * target.size_px)
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    grey = cv2.copyMakeBorder(grey, 12, 12, 12, 12, cv2.BORDER_REPLICATE)
    return normalise_text(pytesseract.image_to_string(grey, config=_tesseract_config()))


def read_qr(rgb: np.ndarray, target: PrintTarget) -> str:
    """OpenCV QRCodeDetector's reading of one code (upscaled grey crop); '' if none."""
    margin = int(round(4 * target.size_px)) + 4  # the quiet zone is 4 modules
    grey = cv2.cvtColor(np.ascontiguousarray(_crop(rgb, target, margin)), cv2.COLOR_RGB2GRAY)
    for module in QR_MODULE_PX:  # a few zooms, as a person would try; the code's checksum guards each read
        f = module / target.size_px
        big = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 24, 24, 24, 24, cv2.BORDER_REPLICATE)
        try:
            text, _, _ = cv2.QRCodeDetector().detectAndDecode(big)
        except cv2.error:
            text = ""
        if text:
            return text
    return ""


def verdict(target: PrintTarget, read: str) -> str:
    """'read', 'miss' or 'wrong' (a complete string of the right form that is not the truth)."""
    if target.kind == "qr":
        return "miss" if not read else ("read" if read == target.truth else "wrong")
    if read == normalise_text(target.truth):
        return "read"
    return "wrong" if PLATE_FORM.fullmatch(read) else "miss"


def judge_print(rgb: np.ndarray, targets: list[PrintTarget]) -> list[dict]:
    out = []
    for t in targets:
        read = read_text(rgb, t) if t.kind == "text" else read_qr(rgb, t)
        out.append({"kind": t.kind, "size_px": t.size_px, "truth": t.truth, "read": read, "verdict": verdict(t, read)})
    return out
