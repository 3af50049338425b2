"""The quality table every model decision is judged by: whole frames at the
size the camera streams, the classical peers in the same run, and task judges.

    python -m benchmarks.native_quality                       # full: the README's table
    python -m benchmarks.native_quality --quick \\
        --checkpoint checkpoints/student/last.pt:2 --bundle my-bundle    # a candidate in minutes

What is scored (nothing is ever downscaled for scoring):

* **real CCTV**: frames of ``vtest.avi`` (a real static surveillance camera,
  768x576, never trained on), spread evenly over the whole clip;
* **photos**: held-out photos with a short side of at least 640 px, as the
  dataset holds them (``data/eval``);
* **1280x720**: held-out source photos made into 720p frames (16:9 centre
  crop, area-resized to 1280x720 only when larger; ``export/sources.py``'s
  split rule decides what is held out);

each under every named condition of ``export/camera_model.py`` with a seed
fixed per (frame, condition). Metrics: PSNR, PSNR with the output's mean
brightness matched to the reference ("GT-mean"), SSIM, CIEDE2000. Judges
(``export/judges.py``): people (HOG) on the real CCTV frames, small print
(QR, Tesseract) on real CCTV frames with targets pasted by
``export/print_render.py`` before the night degradation, every model at
several sampler seeds. Video: flicker on the static clip (first frames of
vtest.avi) against the clean clip's own, PSNR on moving pixels, clip PSNR.

Peers' outputs and every score are cached on disk by content hash
(``~/.cache/edge-agent/`` by default), so a rerun only computes what is new.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_agent.runtime.bundle import load_bundle
from edge_agent.runtime.enhancer import EnhanceSettings, Enhancer, StreamEnhancer
from edge_agent.runtime.monochrome import keep_monochrome
from edge_agent.runtime.sampler import SAMPLERS, karras_sigmas, seeded_noise

from .camera_model import CONDITIONS, degrade
from .judges import PEOPLE_ZOOM, PeopleDetector, judge_print, match_people, tesseract_version
from .metrics import all_metrics, moving_psnr, psnr, temporal_flicker
from .peers import bm3d_cbm3d, clahe_nlm, gamma_wb_nlm, identity
from .print_render import render_print
from .sources import EVAL_VIDEO, OPENCV_DATA, WALLPAPER_PHOTOS, fetch_debian_package, is_eval, read_rgb

CACHE_VERSION = "native-eval-1"  # bump when a metric, judge, peer or set definition changes
VTEST_FRAMES = 42  # >= 40 real frames spread over the whole clip
HD = (1280, 720)
MIN_PHOTO_SIDE = 640
FEW_STEP_SIGMA_MIN, SIGMA_MAX = 0.03, 40.0  # the student recipe's Euler schedules (export/configs/student_cpu.yaml)
SEED_SALT = "native-eval-v1"

Enhance = Callable[[np.ndarray, int], np.ndarray]  # (night uint8 RGB, sampler seed) -> uint8 RGB


# ----------------------------------------------------------------------------- settings
@dataclass
class Plan:
    """How much to score. ``full`` is the README's table; ``quick`` judges a candidate in minutes."""

    vtest: int = VTEST_FRAMES
    photos: int = 99
    hd: int = 99
    print_scenes: int = 4
    clip_frames: int = 24
    video_conditions: tuple[str, ...] = ("street_sodium", "very_dark")
    seeds: int = 3  # sampler seeds per model for the print judges (the first is the model's own)
    bm3d: bool = True
    conditions: tuple[str, ...] = tuple(CONDITIONS)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(vtest=6, photos=1, hd=1, print_scenes=2, clip_frames=8, video_conditions=("street_sodium",),
                   seeds=1)


# ----------------------------------------------------------------------------- cache
def digest(*parts: object) -> str:
    h = hashlib.sha256(CACHE_VERSION.encode())
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str((p.shape, p.dtype.str)).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"|")
    return h.hexdigest()[:32]


class Cache:
    """Peers' outputs as PNG (``peers/<name>/<input hash>.png`` + the seconds it
    took) and scores as JSON (``scores/<hash>.json``)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def peer_output(self, name: str, fn: Callable[[np.ndarray], np.ndarray], night: np.ndarray) -> tuple[np.ndarray, float]:
        key = digest(name, night)
        if self.root is not None:
            png = self.root / "peers" / name / f"{key}.png"
            if png.exists():
                meta = json.loads(png.with_suffix(".json").read_text())
                return np.ascontiguousarray(cv2.imread(str(png), cv2.IMREAD_COLOR)[..., ::-1]), meta["seconds"]
        t = time.perf_counter()
        out = fn(night)
        seconds = time.perf_counter() - t
        if self.root is not None:
            png.parent.mkdir(parents=True, exist_ok=True)
            tmp = png.with_name(png.stem + ".tmp.png")
            cv2.imwrite(str(tmp), out[..., ::-1])
            png.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "shape": list(out.shape)}))
            tmp.replace(png)
        return out, seconds

    def score(self, kind: str, fn: Callable[[], object], *key_parts: object) -> object:
        if self.root is None:
            return fn()
        path = self.root / "scores" / f"{digest(kind, *key_parts)}.json"
        if path.exists():
            return json.loads(path.read_text())
        value = fn()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
        return value


# ----------------------------------------------------------------------------- frames
def _crop16(rgb: np.ndarray) -> np.ndarray:
    """Centre-crop to multiples of 16 (the networks' granularity); never rescales."""
    h, w = rgb.shape[:2]
    nh, nw = h // 16 * 16, w // 16 * 16
    y, x = (h - nh) // 2, (w - nw) // 2
    return np.ascontiguousarray(rgb[y:y + nh, x:x + nw])


def vtest_path(debs: Path) -> Path:
    return fetch_debian_package("opencv-doc", debs) / OPENCV_DATA / EVAL_VIDEO


def read_video_frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    wanted, out = set(indices), {}
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while len(out) < len(wanted):
            ok, bgr = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = np.ascontiguousarray(bgr[..., ::-1])
            i += 1
    finally:
        cap.release()
    if len(out) < len(wanted):
        raise FileNotFoundError(f"{path}: only {i} frames, wanted up to {max(wanted)}")
    return out


def vtest_indices(total: int, n: int) -> list[int]:
    """``n`` frames spread evenly over the clip. A smaller ``n`` takes every
    k-th of the full set, so quick runs reuse the full run's cached peers."""
    full = [int(round(v)) for v in np.linspace(0, total - 1, VTEST_FRAMES)]
    if n >= VTEST_FRAMES:
        return [int(round(v)) for v in np.linspace(0, total - 1, n)]
    step = VTEST_FRAMES // n
    return full[::step][:n]


def hd_frame(rgb: np.ndarray) -> np.ndarray:
    """A 1280x720 frame of a photo at least that large: 16:9 centre crop, area-resized to 720p when much larger."""
    h, w = rgb.shape[:2]
    ch, cw = (h, int(h * 16 / 9)) if w * 9 >= h * 16 else (int(w * 9 / 16), w)
    if cw < HD[0] * 1.1:  # at most 10% larger than 720p: crop to exactly 1280x720, no resampling at all
        ch, cw = HD[1], HD[0]
    y, x = (h - ch) // 2, (w - cw) // 2
    crop = rgb[y:y + ch, x:x + cw]
    return np.ascontiguousarray(cv2.resize(crop, HD, interpolation=cv2.INTER_AREA) if cw != HD[0] else crop)


def held_out_sources(debs: Path) -> dict[str, np.ndarray]:
    """Held-out source photos (by export/sources.py's split rule) at their full size."""
    out = {}
    data = fetch_debian_package("opencv-doc", debs) / OPENCV_DATA
    for path in sorted(data.iterdir()):
        name = f"opencv_{path.stem}"
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"} and is_eval(name):
            rgb = read_rgb(path)
            if rgb is not None:
                out[name] = rgb
    for package, names in WALLPAPER_PHOTOS.items():
        root = fetch_debian_package(package, debs)
        for name in names:
            if not is_eval(f"wall_{name}"):
                continue
            candidates = [c for c in sorted(root.rglob(f"{name}/contents/images/*")) + sorted(root.rglob(f"{name}.*"))
                          if c.suffix.lower() in {".jpg", ".jpeg", ".png"}]
            if candidates:
                rgb = read_rgb(max(candidates, key=lambda c: c.stat().st_size))
                if rgb is not None:
                    out[f"wall_{name}"] = rgb
    return out


@dataclass
class Frames:
    stills: dict[str, tuple[str, np.ndarray]]  # name -> (set, clean frame)
    print_backgrounds: dict[str, np.ndarray]
    clip: list[np.ndarray]
    vtest_total: int


def print_backgrounds(full_idx: list[int], n: int) -> list[int]:
    """The vtest frames print is pasted into: every 7th scored still from the 4th (fixed, so earlier
    tables stay comparable; none of them a scored still in quick mode), then, for more than those 6,
    frames midway between scored stills, spread over the clip. Why more: wrong reads are rare events
    (tens over three seeds), so telling two models apart needs more plates than 6 scenes hold."""
    midway = [(a + b) // 2 for a, b in zip(full_idx, full_idx[1:])]
    return (full_idx[3::7] + midway[1::2] + midway[0::2])[:n]


def load_frames(plan: Plan, data: Path, debs: Path, video: Path | None = None) -> Frames:
    """The scored frames; ``video`` replaces vtest.avi (tests use a synthetic clip)."""
    video = video or vtest_path(debs)
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    still_idx = vtest_indices(total, plan.vtest)
    full_idx = vtest_indices(total, VTEST_FRAMES)
    print_idx = print_backgrounds(full_idx, plan.print_scenes)
    clip_idx = list(range(plan.clip_frames))
    got = read_video_frames(video, sorted(set(still_idx + print_idx + clip_idx)))
    stills: dict[str, tuple[str, np.ndarray]] = {f"vtest_{i:04d}": ("real CCTV", got[i]) for i in still_idx}
    photos = []
    index_file = data / "index.json"
    if index_file.exists():
        for name in json.loads(index_file.read_text())["eval"]:
            if name.startswith("vtest"):
                continue
            bgr = cv2.imread(str(data / "eval" / f"{name}.png"), cv2.IMREAD_COLOR)
            if bgr is not None and min(bgr.shape[:2]) >= MIN_PHOTO_SIDE:
                photos.append((name, _crop16(np.ascontiguousarray(bgr[..., ::-1]))))
    for name, rgb in photos[:plan.photos]:
        stills[f"photo_{name}"] = ("photos", rgb)
    if plan.hd > 0:
        big = {n: r for n, r in held_out_sources(debs).items() if r.shape[0] >= HD[1] and r.shape[1] >= HD[0]}
        for name, rgb in list(big.items())[:plan.hd]:
            stills[f"hd_{name}"] = ("1280x720", hd_frame(rgb))
    return Frames(stills, {f"print_{i:04d}": got[i] for i in print_idx}, [got[i] for i in clip_idx], total)


def pair_seed(name: str, condition: str) -> np.random.Generator:
    d = hashlib.sha256(f"{SEED_SALT}:{name}:{condition}".encode()).digest()
    return np.random.default_rng(int.from_bytes(d[:8], "big"))


# ----------------------------------------------------------------------------- enhancers
@dataclass
class Candidate:
    name: str
    kind: str  # "peer" or "model"
    enhance: Enhance
    seeds: list[int] = field(default_factory=lambda: [0])  # the first is the setting's own
    cached: bool = False  # peers: outputs cached on disk by input hash
    subset_only: bool = False  # BM3D: only the fixed subset
    stream: Callable[[], Callable[[np.ndarray], np.ndarray]] | None = None  # video with the temporal filter


def peer_candidates(plan: Plan) -> list[Candidate]:
    def wrap(fn):
        return lambda night, seed: fn(night)

    peers = [Candidate("identity (night input)", "peer", wrap(identity)),
             Candidate("CLAHE + NLM", "peer", wrap(clahe_nlm), cached=True),
             Candidate("gamma + grey-world + NLM", "peer", wrap(gamma_wb_nlm), cached=True)]
    if plan.bm3d:
        peers.append(Candidate("gamma + grey-world + CBM3D", "peer", wrap(bm3d_cbm3d), cached=True, subset_only=True))
    return peers


def extra_seeds(own: int, n: int) -> list[int]:
    return [own] + [own + 1000 * k for k in range(1, n)]


def bundle_candidate(path: Path, steps: int | None, plan: Plan, label: str | None = None,
                     precision: str = "int8") -> Candidate:
    bundle = load_bundle(path)
    enhancer = Enhancer(bundle, EnhanceSettings(backend="openvino", precision=precision, steps=steps))
    name = label or f"{bundle.name} {bundle.version}"
    mean = f", mean of {enhancer.average} samples" if enhancer.average > 1 else ""
    mean += " (mirrored pair)" if enhancer.average > 1 and enhancer.mirror else ""
    return Candidate(f"{name} (OpenVINO {precision.upper()}, {enhancer.steps}-step{mean})", "model",
                     lambda night, seed: enhancer.enhance(night, seed), extra_seeds(enhancer.seed, plan.seeds),
                     stream=lambda: StreamEnhancer(enhancer))


def load_checkpoint(path: Path):
    """Any checkpoint of export/network.py's Denoiser, whatever NetConfig fields it
    has: the config stored with it builds the network; the EMA weights are used."""
    import torch

    from .network import Denoiser, NetConfig

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = Denoiser(NetConfig(**ckpt["net"]))
    model.load_state_dict(ckpt["ema"] if "ema" in ckpt else ckpt["model"])
    return model.eval(), ckpt


def torch_denoiser(model):
    """A torch Denoiser as the sampler's numpy callable ``denoise(x, sigma, cond)``."""
    import torch

    def denoise(x, sigma, cond):
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(sigma), torch.from_numpy(cond)).numpy()
    return denoise


def night_cond(night: np.ndarray) -> np.ndarray:
    """uint8 RGB night frame -> the network's ``cond``, reflect-padded to a multiple of 64 (any U-Net depth)."""
    h, w = night.shape[:2]
    padded = np.pad(night, ((0, -(-h // 64) * 64 - h), (0, -(-w // 64) * 64 - w), (0, 0)), mode="reflect")
    return np.ascontiguousarray((padded.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])


def model_output(night: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The sampler's padded output -> uint8 RGB of the night frame's size, as the runtime's Enhancer gives it."""
    h, w = night.shape[:2]
    res = keep_monochrome(night, np.clip((out[0, :, :h, :w].transpose(1, 2, 0) + 1) * 0.5, 0, 1))
    return np.round(res * 255).astype(np.uint8)


def checkpoint_candidates(spec: str, plan: Plan) -> list[Candidate]:
    """``PATH[:N,M]``: the checkpoint at N and M Euler steps (default 2): its own
    schedules when it has them (a student), else Karras from 40 to 0.03."""
    path_s, _, steps_s = spec.partition(":")
    path = Path(path_s)
    model, ckpt = load_checkpoint(path)
    schedules = {int(k): v for k, v in (ckpt.get("schedules") or {}).items()}
    label = f"{path.parent.name}/{path.name}" + (f" @{ckpt['step']}" if "step" in ckpt else "")

    denoise = torch_denoiser(model)
    out = []
    for n in [int(s) for s in (steps_s or "2").split(",")]:
        sigmas = schedules.get(n) or karras_sigmas(n, FEW_STEP_SIGMA_MIN, SIGMA_MAX).tolist()

        def enhance(night: np.ndarray, seed: int, sigmas=sigmas) -> np.ndarray:
            cond = night_cond(night)
            return model_output(night, SAMPLERS["euler"](denoise, cond, sigmas, seeded_noise(seed, cond.shape)))

        out.append(Candidate(f"{label} euler-{n} (torch)", "model", enhance, extra_seeds(0, plan.seeds)))
    return out


# ----------------------------------------------------------------------------- scoring
def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


class Evaluation:
    def __init__(self, plan: Plan, frames: Frames, cache: Cache, log=print) -> None:
        self.plan, self.frames, self.cache, self.log = plan, frames, cache, log
        self.pairs = []
        for name, (group, clean) in frames.stills.items():
            for cond in plan.conditions:
                night, target = degrade(clean, CONDITIONS[cond], pair_seed(name, cond))
                self.pairs.append({"name": name, "set": group, "condition": cond, "night": night, "target": target})
        self.print_pairs = []
        for i, (name, bg) in enumerate(frames.print_backgrounds.items()):
            clean, targets = render_print(bg, i)
            for cond in plan.conditions:
                night, target = degrade(clean, CONDITIONS[cond], pair_seed(name, cond))
                self.print_pairs.append({"name": name, "condition": cond, "night": night, "target": target,
                                         "targets": targets})
        vtest_names = [n for n, (g, _) in frames.stills.items() if g == "real CCTV"]
        first_print = next(iter(frames.print_backgrounds), None)
        mid = vtest_names[len(vtest_names) // 2] if vtest_names else None
        # BM3D's fixed subset: one real CCTV still (the middle of the clip) and one print scene, every condition
        self.bm3d_subset = {mid, first_print}
        self.detector: PeopleDetector | None = None

    def people(self, img: np.ndarray, zoom: int = 1) -> list[list[int]]:
        def run():
            if self.detector is None:
                self.detector = PeopleDetector()
            return self.detector.detect(img, zoom)["boxes"]
        return self.cache.score("hog" if zoom == 1 else f"hog-zoom{zoom}", run, img)

    def output(self, cand: Candidate, night: np.ndarray, seed: int) -> tuple[np.ndarray, float | None]:
        if cand.cached:
            return self.cache.peer_output(cand.name, lambda x: cand.enhance(x, seed), night)
        t = time.perf_counter()
        out = cand.enhance(night, seed)
        return out, time.perf_counter() - t

    def stills(self, cand: Candidate) -> tuple[list[dict], dict[str, float]]:
        rows, times = [], {}
        pairs = [p for p in self.pairs if not cand.subset_only or p["name"] in self.bm3d_subset]
        t0 = time.time()
        for k, p in enumerate(pairs):
            out, seconds = self.output(cand, p["night"], cand.seeds[0])
            times.setdefault(f"{out.shape[1]}x{out.shape[0]}", []).append(seconds)
            m = self.cache.score("metrics", lambda: all_metrics(out, p["target"]), out, p["target"])
            row = {"name": p["name"], "set": p["set"], "condition": p["condition"], **m}
            if p["set"] == "real CCTV":
                row.update(match_people(self.people(p["target"]), self.people(out)))
                zoomed = match_people(self.people(p["target"], PEOPLE_ZOOM), self.people(out, PEOPLE_ZOOM))
                row.update({f"{k}_zoom": v for k, v in zoomed.items()})
            rows.append(row)
            if k % 20 == 19:
                self.log(f"  {cand.name}: {k + 1}/{len(pairs)} stills ({time.time() - t0:.0f} s)")
        return rows, {size: float(np.mean(s)) for size, s in times.items()}

    def printed(self, cand: Candidate | None) -> list[dict]:
        """Print judges on every print pair, at every seed of the candidate (None: the clean reference)."""
        rows = []
        for p in self.print_pairs:
            if cand is not None and cand.subset_only and p["name"] not in self.bm3d_subset:
                continue
            for seed in (cand.seeds if cand is not None else [None]):
                img = p["target"] if cand is None else self.output(cand, p["night"], seed)[0]
                targets = p["targets"]
                reads = self.cache.score("print", lambda: judge_print(img, targets), img,
                                         [t.to_dict() for t in targets])
                rows += [{"name": p["name"], "condition": p["condition"], "seed": seed, **r} for r in reads]
        return rows

    def video(self, cands: list[Candidate]) -> dict:
        clip = self.frames.clip
        out: dict = {"clean clip": {"flicker": temporal_flicker(clip, clip)}}
        if len(clip) < 2:
            return out
        for cond in self.plan.video_conditions:
            night = [degrade(f, CONDITIONS[cond], np.random.default_rng(1000 + i))[0] for i, f in enumerate(clip)]
            for cand in cands:
                if cand.subset_only:
                    continue
                settings = [("per frame", None)] + ([("with temporal filter", cand.stream)] if cand.stream else [])
                for label, make in settings:
                    if make is None:
                        frames = [self.output(cand, n, cand.seeds[0])[0] for n in night]
                    else:
                        stream = make()
                        frames = [stream(n) for n in night]
                    name = cand.name if label == "per frame" else f"{cand.name} + temporal filter"
                    out.setdefault(name, {})[cond] = {
                        "flicker": temporal_flicker(frames, clip), "clip_psnr": _mean(psnr(o, c) for o, c in zip(frames, clip)),
                        "moving_psnr": moving_psnr(frames, clip)}
        return out

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()


# ----------------------------------------------------------------------------- summaries
METRICS = ("psnr", "psnr_m", "ssim", "de2000")


def summarise_stills(rows: list[dict], conditions: tuple[str, ...]) -> dict:
    def agg(rs):
        if not rs:
            return None
        a = {k: _mean(r[k] for r in rs) for k in METRICS}
        a["pairs"] = len(rs)
        if any("reference" in r for r in rs):
            frames = sum(1 for r in rs if "reference" in r)
            for suffix in ("", "_zoom"):  # the frame's own scale, then PEOPLE_ZOOM
                ref, hits, false = (sum(r.get(k + suffix, 0) for r in rs) for k in ("reference", "hits", "false"))
                a["people_recall" + suffix] = hits / ref if ref else float("nan")
                a["false_per_frame" + suffix] = false / frames
        return a

    groups = {"all": rows, "real CCTV": [r for r in rows if r["set"] == "real CCTV"],
              "photos": [r for r in rows if r["set"] == "photos"], "1280x720": [r for r in rows if r["set"] == "1280x720"],
              "photos + 1280x720": [r for r in rows if r["set"] != "real CCTV"]}
    out = {g: agg(rs) for g, rs in groups.items()}
    out["per_condition"] = {c: {g: agg([r for r in rs if r["condition"] == c]) for g, rs in groups.items()
                                if g in ("real CCTV", "photos + 1280x720")} for c in conditions}
    return out


def summarise_print(rows: list[dict], conditions: tuple[str, ...]) -> dict:
    def counts(rs):
        c = {"targets": len(rs)}
        for v in ("read", "miss", "wrong"):
            c[v] = sum(1 for r in rs if r["verdict"] == v)
        return c

    out = {kind: counts([r for r in rows if r["kind"] == kind]) for kind in ("qr", "text")}
    out["by_seed"] = {str(s): {k: counts([r for r in rows if r["seed"] == s and r["kind"] == k]) for k in ("qr", "text")}
                      for s in sorted({r["seed"] for r in rows}, key=str)}
    out["per_condition"] = {c: counts([r for r in rows if r["condition"] == c]) for c in conditions}
    out["text_by_height"] = {f"{s:g}": counts([r for r in rows if r["kind"] == "text" and r["size_px"] == s])
                             for s in sorted({r["size_px"] for r in rows if r["kind"] == "text"})}
    out["wrong_reads"] = [{k: r[k] for k in ("name", "condition", "seed", "kind", "size_px", "truth", "read")}
                          for r in rows if r["verdict"] == "wrong"]
    return out


def warm_bm3d(plan: Plan, data: Path, debs: Path, cache_dir: Path, log=print) -> None:
    """Fill the cache with CBM3D's outputs on its fixed subset (run it beside a long evaluation)."""
    ev = Evaluation(plan, load_frames(plan, data, debs), Cache(cache_dir), log)
    cand = next(c for c in peer_candidates(plan) if c.subset_only)
    for p in ev.pairs + ev.print_pairs:
        if p["name"] in ev.bm3d_subset:
            t = time.time()
            ev.output(cand, p["night"], 0)
            log(f"CBM3D {p['name']} {p['condition']}: {time.time() - t:.0f} s")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(plan: Plan, candidates: list[Candidate], data: Path, debs: Path, cache_dir: Path | None, log=print,
        video: Path | None = None) -> dict:
    started = time.time()
    frames = load_frames(plan, data, debs, video)
    cache = Cache(cache_dir)
    ev = Evaluation(plan, frames, cache, log)
    peers = peer_candidates(plan)  # CBM3D last: a separate warm-up run may still be filling its cache
    cands = [p for p in peers if not p.subset_only] + candidates + [p for p in peers if p.subset_only]
    sets = {}
    for name, (group, clean) in frames.stills.items():
        sets.setdefault(group, {"frames": 0, "sizes": set()})
        sets[group]["frames"] += 1
        sets[group]["sizes"].add(f"{clean.shape[1]}x{clean.shape[0]}")
    log(f"{len(ev.pairs)} still pairs, {len(ev.print_pairs)} print pairs, clip {len(frames.clip)} frames; "
        f"{len(cands)} enhancers")
    result: dict = {"enhancers": {}}
    try:
        reference_print = ev.printed(None)
        result["clean reference"] = {"print": summarise_print(reference_print, plan.conditions)}
        for cand in cands:
            t = time.time()
            log(f"{cand.name} ...")
            rows, seconds = ev.stills(cand)
            prows = ev.printed(cand)
            entry = {"kind": cand.kind, "seeds": cand.seeds, "subset_only": cand.subset_only,
                     "seconds_per_frame": seconds, "stills": summarise_stills(rows, plan.conditions),
                     "print": summarise_print(prows, plan.conditions),
                     "print_own_seed": summarise_print([r for r in prows if r["seed"] == cand.seeds[0]], plan.conditions),
                     "rows": rows}
            result["enhancers"][cand.name] = entry
            log(f"  done in {time.time() - t:.0f} s")
        subset_pairs = [p for p in ev.pairs if p["name"] in ev.bm3d_subset]
        result["bm3d_subset"] = {"frames": sorted(n for n in ev.bm3d_subset if n), "pairs": len(subset_pairs),
                                 "print_pairs": sum(1 for p in ev.print_pairs if p["name"] in ev.bm3d_subset)}
        for name, e in result["enhancers"].items():
            e["stills_on_bm3d_subset"] = summarise_stills([r for r in e["rows"] if r["name"] in ev.bm3d_subset],
                                                          plan.conditions)["all"]
        log("video ...")
        result["video"] = ev.video(cands)
    finally:
        ev.close()
    vtest_by_cond = {}
    for name, e in result["enhancers"].items():
        vtest_by_cond[name] = {c: (e["stills"]["per_condition"][c]["real CCTV"] or {}).get("psnr")
                               for c in plan.video_conditions}
    result["video_stills_psnr"] = vtest_by_cond
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result["meta"] = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}",
        "load_average_at_start": load, "plan": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.__dict__.items()},
        "sets": {g: {"frames": s["frames"], "sizes": sorted(s["sizes"])} for g, s in sets.items()},
        "vtest_frames": [n for n, (g, _) in frames.stills.items() if g == "real CCTV"],
        "vtest_total_frames": frames.vtest_total,
        "print_scenes": list(frames.print_backgrounds), "print_targets_per_scene": len(ev.print_pairs[0]["targets"]) if ev.print_pairs else 0,
        "judges": {"people": f"OpenCV {ev.detector.version if ev.detector else '4.x'} HOG people detector "
                             f"(IoU >= 0.5 against its detections on the clean frame; again on frames upscaled "
                             f"{PEOPLE_ZOOM}x, which finds people shorter than its 128 px window)",
                   "qr": f"OpenCV {cv2.__version__} QRCodeDetector", "text": f"Tesseract {tesseract_version()} (LSTM)"},
        "seconds": time.time() - started,
    }
    return result
