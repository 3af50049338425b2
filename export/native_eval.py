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
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_agent.measure import cpu_name

from .camera_model import CONDITIONS, degrade
from .judges import PEOPLE_ZOOM, PeopleDetector, judge_print, match_people, tesseract_version
from .metrics import all_metrics, moving_psnr, psnr, temporal_flicker
from .native_candidates import Candidate, peer_candidates
from .native_frames import Frames, Plan, load_frames, pair_seed
from .native_summary import finite_mean, summarise_print, summarise_stills
from .print_render import render_print

CACHE_VERSION = "native-eval-1"  # bump when a metric, judge, peer or set definition changes


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


# ----------------------------------------------------------------------------- scoring
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
                        "flicker": temporal_flicker(frames, clip), "clip_psnr": finite_mean(psnr(o, c) for o, c in zip(frames, clip)),
                        "moving_psnr": moving_psnr(frames, clip)}
        return out

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()


def warm_bm3d(plan: Plan, data: Path, debs: Path, cache_dir: Path, log=print) -> None:
    """Fill the cache with CBM3D's outputs on its fixed subset (run it beside a long evaluation)."""
    ev = Evaluation(plan, load_frames(plan, data, debs), Cache(cache_dir), log)
    cand = next(c for c in peer_candidates(plan) if c.subset_only)
    for p in ev.pairs + ev.print_pairs:
        if p["name"] in ev.bm3d_subset:
            t = time.time()
            ev.output(cand, p["night"], 0)
            log(f"CBM3D {p['name']} {p['condition']}: {time.time() - t:.0f} s")


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
