"""More real photographs from Debian packages, for training only (opt-in).

``python -m export.sources --out data_wide --more-photos`` adds these to the
87 training scenes of the default build. They are opt-in so that the default
dataset, and with it every held-out table in ``benchmarks/results``, stays what
it was: the split rule still puts ~15 % of the new scenes in ``eval/``, where
they are held out but not read by the native-resolution table (which lists its
photos from the default build's index).

Why these: a survey of what Debian, PyPI and npm hold offline (session 20)
found no street, plate or shop-sign set; these are the largest sets of real
photographs (not drawings, renders or abstract art) with clear licences:

* ``gcompris-qt-data`` (GPL-3+): buildings and monuments (49, ~1024x768),
  animals in nature (33 at 1920x1080, 24 more) inside Qt resource bundles;
  the WebP files are stored whole in them and are cut out by their RIFF size.
* ``lomiri-wallpapers-16.04`` (CC-BY-4.0 / CC-BY-SA-4.0, authors in the file
  names): 14 photographs (a bridge, an interior, mountains, a clock ...).
* ``tuxpaint-data`` (GPL-2+): 19 photographs of bark, rock, water, trees,
  a lighthouse, sheep, a mill.
* ``palapeli-data`` (GPL-2+): 5 photographs (a castle, a bridge at night ...).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

MIN_PHOTO_SIDE = 400  # the resource bundles also hold icons and 320x240 thumbnails
QT_RESOURCE_PHOTOS = {  # package -> resource bundles (usr/share/gcompris-qt/rcc/NAME.rcc) of photographs
    "gcompris-qt-data": ("explore_monuments", "erase", "explore_world_animals", "explore_farm_animals"),
}
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
FILE_PHOTOS = {  # package -> (folder, stems; None = every JPEG there)
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds", (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
        "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
        "sunset_by_Aitzol_Berasategi",  # umang_by_Abhishek_Mudgal is abstract art: left out
    )),
    "tuxpaint-data": ("usr/share/tuxpaint/templates", None),
    "palapeli-data": ("usr/share/palapeli/collection", None),
}


def webp_files(blob: bytes) -> Iterator[bytes]:
    """Every whole WebP file stored inside ``blob``: a RIFF header, its size
    (little-endian, not counting the first 8 bytes), then ``WEBP``."""
    at = blob.find(b"RIFF")
    while at >= 0:
        if blob[at + 8:at + 12] == b"WEBP":
            (size,) = struct.unpack("<I", blob[at + 4:at + 8])
            if at + 8 + size <= len(blob):
                yield blob[at:at + 8 + size]
                at = blob.find(b"RIFF", at + 8 + size)
                continue
        at = blob.find(b"RIFF", at + 4)


def _decode(data: bytes) -> np.ndarray | None:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or min(bgr.shape[:2]) < MIN_PHOTO_SIDE:
        return None
    return np.ascontiguousarray(bgr[..., ::-1])


def qt_resource_photos(package_root: Path, bundle: str) -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGB) for each photograph in one resource bundle. The names end in
    letters, so the split rule does not take a numbered set for one video."""
    blob = (package_root / GCOMPRIS_RCC / f"{bundle}.rcc").read_bytes()
    kept = 0
    for data in webp_files(blob):
        rgb = _decode(data)
        if rgb is not None:
            yield f"{bundle.removeprefix('explore_')}{kept:03d}p", rgb
            kept += 1


def file_photos(package_root: Path, folder: str, stems: tuple[str, ...] | None) -> Iterator[tuple[str, np.ndarray]]:
    for path in sorted((package_root / folder).glob("*.jpg")):
        if stems is None or path.stem in stems:
            rgb = _decode(path.read_bytes())
            if rgb is not None:
                yield path.stem, rgb


def more_photos(fetch: Callable[[str], Path]) -> Iterator[tuple[str, np.ndarray, str]]:
    """(name, RGB, package) for every photograph above; ``fetch(package)``
    returns the unpacked package's root."""
    for package, bundles in QT_RESOURCE_PHOTOS.items():
        root = fetch(package)
        for bundle in bundles:
            for name, rgb in qt_resource_photos(root, bundle):
                yield f"gcompris_{name}", rgb, package
    for package, (folder, stems) in FILE_PHOTOS.items():
        tag = package.split("-")[0]
        for name, rgb in file_photos(fetch(package), folder, stems):
            yield f"{tag}_{name}", rgb, package
