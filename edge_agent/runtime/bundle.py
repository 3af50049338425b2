"""Model bundles: a folder (or a single-file ``.tar`` of it) that carries the
student networks and everything the runtime needs to use them.

::

    manifest.json          name, versions, sampler, io spec, files + sha256, provenance
    manifest.json.sig      optional detached Ed25519 signature of manifest.json
    model_fp32.onnx        preconditioned denoiser D(x, sigma, cond), dynamic N/H/W
    model_int8.onnx        the same, ONNX Runtime static QDQ INT8
    openvino/model_int8.{xml,bin}   NNCF INT8 IR for OpenVINO (optional)
    reference/*            reference frames and expected outputs (optional)

The runtime reads every setting (noise levels, tile shape, colour order) from
the manifest and never from a second copy. Loading verifies the size and
sha256 of every listed file and refuses a bundle with unlisted files.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..fsutil import atomic_write_bytes, sha256_file
from .temporal import TemporalSpec

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
FORMAT = 1
PRECISIONS = ("fp32", "int8")
MODEL_FORMATS = ("onnx", "openvino")
MAX_AVERAGE = 8  # samples averaged per frame: each costs a full run of the sampler
# What this runtime runs beyond format 1's core. A bundle lists in ``requires`` the features it needs,
# so a runtime without one refuses it by name (before a download finishes or a model compiles) instead
# of running it differently; runtimes older than this list ignore the key (their smoke test is the guard)
RUNTIME_FEATURES = ("average", "mirror", "tone_anchor")
MAX_TONE_ANCHOR = 64.0  # px: the anchor's scale (tone_anchor.py); coarser leaves little for it to fix


@dataclass(frozen=True)
class SamplerSpec:
    """The manifest's ``sampler``: noise levels per supported step count, default steps and seed, and
    how many samples (seeds ``seed .. seed + average - 1``) one output frame is the mean of; with
    ``mirror`` every second of them runs on the left-right mirrored frame and is mirrored back; with
    ``tone_anchor`` (px, 0: off) the output's content coarser than that scale becomes one colour
    transform of the night frame's (tone_anchor.py)."""

    name: str  # a key of edge_agent.runtime.sampler.SAMPLERS
    sigmas: dict[int, tuple[float, ...]]  # steps -> noise levels (ending in 0)
    default_steps: int
    default_seed: int
    seed_policy: str
    average: int = 1  # older bundles: one sample per frame
    mirror: bool = False  # older bundles: every sample on the frame as it is
    tone_anchor: float = 0.0  # older bundles: the network's output as it is

    @property
    def steps(self) -> list[int]:
        return sorted(self.sigmas)


@dataclass(frozen=True)
class IOSpec:
    """The manifest's ``io``: what the network takes and returns, and the static tile shape."""

    colour_order: str  # "RGB"
    layout: str  # "NCHW"
    cond_range: tuple[float, float]  # the night frame fed as `cond`
    data_range: tuple[float, float]  # x and the denoised output
    tile: tuple[int, int]  # static (H, W) for accelerators that need static shapes
    tile_overlap: int
    granularity: int  # H and W of any input must be multiples of this


@dataclass(frozen=True)
class Bundle:
    """A loaded (and normally verified) bundle: its folder, manifest and parsed settings."""

    root: Path
    manifest: dict[str, Any]
    sampler: SamplerSpec
    io: IOSpec
    temporal: TemporalSpec | None = None  # the stream filter's settings; None: the bundle has none

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def version_code(self) -> int:
        return int(self.manifest["version_code"])

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if p in self.manifest["models"]]

    def model_path(self, precision: str, model_format: str) -> Path | None:
        """The file for ``precision`` in ``model_format`` ('onnx' or 'openvino')."""
        entry = self.manifest["models"].get(precision, {}).get(model_format)
        return self.root / entry if entry else None


def _require(cond: bool, root: Path, what: str) -> None:
    if not cond:
        raise BundleError(f"model bundle {root}: {what}")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"mirror must be true or false, not {value!r}")
    return value


def parse_manifest(root: Path, m: dict[str, Any]) -> Bundle:
    """Check a manifest's structure and settings without touching files (also used on update offers)."""
    _require(m.get("format") == FORMAT, root, f"manifest format {m.get('format')!r} is not supported; allowed: {FORMAT}")
    for key in ("name", "version", "version_code", "sampler", "io", "models", "files"):
        _require(key in m, root, f"manifest lacks the required key '{key}'")
    s, io = m["sampler"], m["io"]
    try:
        sampler = SamplerSpec(s["name"], {int(k): tuple(map(float, v)) for k, v in s["sigmas"].items()},
                              int(s["default_steps"]), int(s.get("default_seed", 0)), s.get("seed_policy", "fixed"),
                              int(s.get("average", 1)), _flag(s.get("mirror", False)),
                              float(s.get("tone_anchor", 0.0)))
        io_spec = IOSpec(io["colour_order"], io["layout"], tuple(io["cond_range"]), tuple(io["data_range"]),
                         tuple(io["tile"]), int(io["tile_overlap"]), int(io["granularity"]))
        temporal = TemporalSpec.from_manifest(m.get("settings", {}).get("temporal"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"model bundle {root}: malformed sampler/io/settings section ({exc})") from None
    _require(sampler.default_steps in sampler.sigmas, root, "default_steps is not among the supported steps")
    requires = m.get("requires", [])
    _require(isinstance(requires, list) and all(isinstance(f, str) for f in requires), root,
             "requires must be a list of runtime feature names")
    missing = sorted(set(requires) - set(RUNTIME_FEATURES))
    _require(not missing, root, f"needs runtime features this edge-agent lacks: {', '.join(missing)}; "
             f"allowed: {', '.join(RUNTIME_FEATURES)} (update edge-agent first)")
    _require(1 <= sampler.average <= MAX_AVERAGE, root, f"sampler average {sampler.average} is not allowed; "
             f"allowed: 1 to {MAX_AVERAGE} samples per frame")
    _require(0.0 <= sampler.tone_anchor <= MAX_TONE_ANCHOR, root, f"sampler tone_anchor {sampler.tone_anchor} "
             f"is not allowed; allowed: 0 (off) to {MAX_TONE_ANCHOR:g} px")
    _require(io_spec.colour_order == "RGB" and io_spec.layout == "NCHW", root, "io spec must be RGB, NCHW")
    _require(io_spec.cond_range == (0.0, 1.0) and io_spec.data_range == (-1.0, 1.0), root,
             "io spec ranges must be cond [0, 1] and data [-1, 1] (the ones this runtime feeds)")
    for precision, entry in m["models"].items():
        _require(precision in PRECISIONS, root, f"unknown precision '{precision}'; allowed: {', '.join(PRECISIONS)}")
        for fmt, rel in entry.items():
            _require(fmt in MODEL_FORMATS and rel in m["files"], root, f"model '{precision}/{fmt}' is not a listed file")
    return Bundle(root, m, sampler, io_spec, temporal)


def verify_files(root: Path, files: dict[str, dict[str, Any]]) -> None:
    """Every listed file exists with its size and sha256; nothing else is there."""
    for rel, meta in files.items():
        path = (root / rel).resolve()
        _require(path.is_relative_to(root.resolve()), root, f"file '{rel}' lies outside the bundle")
        _require(path.is_file(), root, f"file '{rel}' is missing")
        _require(path.stat().st_size == meta["size"], root, f"file '{rel}' has the wrong size (tampered or truncated)")
        _require(sha256_file(path) == meta["sha256"], root, f"file '{rel}' does not match its sha256 (tampered or corrupt)")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    extra = present - set(files) - {MANIFEST, SIGNATURE}
    _require(not extra, root, f"unlisted files {sorted(extra)}; a bundle holds only what its manifest lists")


def load_bundle(path: Path | str, verify: bool = True) -> Bundle:
    """Open a bundle folder (or an unpacked archive) and verify every file."""
    root = Path(path)
    if root.is_file() and tarfile.is_tarfile(root):
        root = unpack_archive(root, Path(tempfile.mkdtemp(prefix="edge-bundle-")))
    _require(root.is_dir(), root, "not found (expected a bundle folder or a .tar archive of one)")
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"model bundle {root}: {MANIFEST} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"model bundle {root}: {MANIFEST} is not valid JSON ({exc.__class__.__name__})") from None
    _require(isinstance(manifest, dict), root, f"{MANIFEST} must hold a JSON object")
    bundle = parse_manifest(root, manifest)
    if verify:
        verify_files(root, manifest["files"])
    return bundle


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill ``files`` with the size and sha256 of every file under ``root`` and
    write manifest.json atomically. Used by the export toolchain."""
    files = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in (MANIFEST, SIGNATURE):
            files[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    manifest = {**manifest, "format": FORMAT, "files": files}
    atomic_write_bytes(root / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def pack_archive(root: Path, archive: Path) -> Path:
    """One-file transfer form of a bundle: an uncompressed tar (ONNX weights
    do not compress) with the manifest first."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    with tarfile.open(tmp, "w") as tar:
        tar.add(root / MANIFEST, arcname=MANIFEST)
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and rel != MANIFEST:
                tar.add(p, arcname=rel)
    os.replace(tmp, archive)
    return archive


def unpack_archive(archive: Path, dest: Path) -> Path:
    """Extract safely: the 'data' filter refuses absolute paths, '..', links
    out of the tree and device files."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise BundleError(f"model bundle archive {archive}: cannot be unpacked ({exc})") from None
    return dest
