"""The native table's summaries: metrics averaged per set and per condition, people
recall at the frame's scale and zoomed, print judges' counts per kind, seed,
condition and glyph height, and every wrong read listed."""
from __future__ import annotations

import numpy as np


def finite_mean(xs) -> float:
    """The mean of the finite values of ``xs`` (None and NaN left out); NaN when none is."""
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


METRICS = ("psnr", "psnr_m", "ssim", "de2000")


def summarise_stills(rows: list[dict], conditions: tuple[str, ...]) -> dict:
    def agg(rs):
        if not rs:
            return None
        a = {k: finite_mean(r[k] for r in rs) for k in METRICS}
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
