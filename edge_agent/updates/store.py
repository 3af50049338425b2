"""Installed models on the box, A/B with a trial and mark-good (as RAUC
does), safe against power loss.

::

    <state>/models/<version_code>-<sha8>/   complete, verified bundles (never modified)
    <state>/models/current  -> <dir>        symlink, replaced atomically (rename)
    <state>/models/previous -> <dir>        the bundle to roll back to
    <state>/models/trial.json               {"bundle", "previous"}: current is on trial
    <state>/models/updates.json             {"floor", "seen"}: anti-rollback floor, accepted offers
    <state>/models/staged.json              {"bundle", "version", ...}: verified, waiting for an install command
    <state>/models/staging/                 downloads and unpacking in progress

A bundle directory appears only by ``rename`` of a fully unpacked, fsynced
and verified folder; every file and link change is fsynced, then its folder:
files, then the directory, then the link. The trial marker is written
before ``current`` moves and removed only when the new model is marked good,
so a crash or power cut during the trial boots the previous model (or, on a
box that ran the packaged model before, the packaged one): the rollback is
made on disk first, then in memory. At start the box uses ``current`` if it
verifies, else ``previous``, else the packaged model, which is always a
valid fallback.

``crash_point`` is the test hook: with ``EDGE_AGENT_CRASH_AT=<name>`` the
process kills itself with SIGKILL at that named point.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..fsutil import atomic_write_bytes, fsync_dir
from ..paths import STORE_FOLDER
from ..runtime.bundle import Bundle, load_bundle

log = logging.getLogger("edge_agent.model_store")
CRASH_ENV = "EDGE_AGENT_CRASH_AT"
MAX_SEEN = 256


TRACE_ENV = "EDGE_AGENT_CRASH_TRACE"
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here, as a power cut or kill -9 would, when the test hook names
    this point: ``EDGE_AGENT_CRASH_AT=<name>#<k>`` (the k-th pass, default 1).
    ``EDGE_AGENT_CRASH_TRACE=<file>`` lists every pass instead."""
    target, trace = os.environ.get(CRASH_ENV), os.environ.get(TRACE_ENV)
    if not target and not trace:
        return
    _passes[name] = _passes.get(name, 0) + 1
    here = f"{name}#{_passes[name]}"
    if trace:
        with open(trace, "a") as f:
            f.write(here + "\n")
    if target and target in (here, name if _passes[name] == 1 else None):
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_tree(root: Path) -> None:
    """fsync every file under ``root``, then every folder (deepest first)."""
    folders = [root]
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif path.is_dir():
            folders.append(path)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(folder)


class ModelStore:
    """The installed bundles, the two symlinks that say which one runs, the trial marker."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / STORE_FOLDER
        self.staging = self.root / "staging"
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(exist_ok=True)

    def target(self, name: str) -> Path | None:
        """The bundle folder ``name`` (current/previous) points at, if any."""
        link = self.root / name
        return (self.root / os.readlink(link)) if link.is_symlink() else None

    def load(self, name: str) -> Bundle | None:
        """The bundle ``name`` points at, if it verifies (a corrupt one is logged, not used)."""
        path = self.target(name)
        if path is None:
            return None
        try:
            return load_bundle(path)
        except BundleError as exc:
            log.error("installed model %s does not verify: %s", name, exc)
            return None

    def boot_bundle(self, fallback: Path) -> Bundle:
        """What to run at start: an interrupted trial is rolled back first; then
        current, else previous, else the fallback (the packaged model)."""
        self.clean_staging()
        if self.trial() is not None:
            log.warning("the model on trial did not finish its trial (crash or power cut): rolling back")
            self.roll_back()
        return self.load("current") or self.load("previous") or load_bundle(fallback)

    def clean_staging(self) -> None:
        """Anything in staging at start was interrupted: it is never used."""
        for entry in self.staging.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def adopt(self, unpacked: Path, name: str) -> Path:
        """Move a verified, unpacked bundle from staging into the store (files fsynced first)."""
        final = self.root / name
        if final.exists():
            shutil.rmtree(unpacked, ignore_errors=True)
            return final
        fsync_tree(unpacked)
        crash_point("adopt-before-rename")
        os.replace(unpacked, final)
        crash_point("adopt-after-rename")
        fsync_dir(self.root)
        return final

    def point(self, name: str, bundle_dir: Path) -> None:
        """Atomically make ``name`` (current/previous) point at ``bundle_dir``."""
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(bundle_dir.name, tmp)
        crash_point(f"point-{name}-before-rename")
        os.replace(tmp, self.root / name)
        crash_point(f"point-{name}-after-rename")
        fsync_dir(self.root)

    def unpoint(self, name: str) -> None:
        """Remove the link ``name`` (durably)."""
        (self.root / name).unlink(missing_ok=True)
        fsync_dir(self.root)

    def trial(self) -> dict[str, Any] | None:
        """The trial marker, if the current model is on trial."""
        try:
            data = json.loads((self.root / "trial.json").read_bytes())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # a torn marker still means: on trial

    def switch_to(self, bundle_dir: Path) -> None:
        """Start a trial: marker (with what to go back to), previous -> old current, current -> new."""
        old = self.target("current")
        same = old is not None and old.resolve() == bundle_dir.resolve()
        back = None if same or old is None else old.name
        self._write("trial.json", {"bundle": bundle_dir.name, "previous": back})
        crash_point("switch-after-marker")
        if back is not None:
            self.point("previous", old)  # type: ignore[arg-type]
        else:
            self.unpoint("previous")  # the packaged model is what we go back to
        crash_point("switch-after-previous")
        self.point("current", bundle_dir)
        crash_point("switch-after-current")

    def mark_good(self, floor: int | None = None) -> None:
        """End the trial: the new model stays; the version floor may rise."""
        if floor is not None:
            self.raise_floor(floor)
        crash_point("mark-good-before")
        (self.root / "trial.json").unlink(missing_ok=True)
        fsync_dir(self.root)
        crash_point("mark-good-after")

    def roll_back(self) -> Path | None:
        """current -> what the trial replaced (None: the packaged model), on
        disk, durably; then the marker goes. Returns the bundle now current."""
        marker = self.trial() or {}
        name = marker.get("previous") if "previous" in marker else (self.target("previous") or Path("")).name or None
        back = self.root / name if isinstance(name, str) and (self.root / name).is_dir() else None
        crash_point("rollback-before")
        if back is not None:
            self.point("current", back)
        else:
            self.unpoint("current")
        crash_point("rollback-after-link")
        (self.root / "trial.json").unlink(missing_ok=True)
        fsync_dir(self.root)
        crash_point("rollback-after-marker")
        return back

    def stage(self, bundle_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
        """Keep a verified bundle for a later install (``updates.auto_install: false``); replaces any staged one."""
        staged = {**info, "bundle": bundle_dir.name}
        self._write("staged.json", staged)
        return staged

    def staged(self) -> dict[str, Any] | None:
        """The staged update, if any and its bundle is still there (a torn or dangling marker is dropped)."""
        try:
            data = json.loads((self.root / "staged.json").read_bytes())
            name = data.get("bundle") if isinstance(data, dict) else None
            if isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and (self.root / name).is_dir():
                return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            pass
        self.unstage()
        return None

    def unstage(self) -> None:
        """Nothing is staged any more (installed, refused or replaced)."""
        (self.root / "staged.json").unlink(missing_ok=True)
        fsync_dir(self.root)

    def history(self) -> dict[str, Any]:
        """{"floor": int, "seen": [metadata digests]} (anti-rollback and anti-replay)."""
        try:
            data = json.loads((self.root / "updates.json").read_bytes())
            return {"floor": int(data.get("floor", 0)), "seen": [str(s) for s in data.get("seen", [])][-MAX_SEEN:]}
        except (OSError, ValueError, TypeError, AttributeError):
            return {"floor": 0, "seen": []}

    def remember_offer(self, digest: str) -> None:
        """An accepted offer's metadata digest: it is never accepted again."""
        h = self.history()
        self._write("updates.json", {"floor": h["floor"], "seen": (h["seen"] + [digest])[-MAX_SEEN:]})

    def raise_floor(self, floor: int) -> None:
        """Never lowered: versions below it are refused from now on."""
        h = self.history()
        if floor > h["floor"]:
            self._write("updates.json", {"floor": floor, "seen": h["seen"]})

    def _write(self, name: str, data: dict[str, Any]) -> None:
        atomic_write_bytes(self.root / name, json.dumps(data).encode())
        fsync_dir(self.root)

    def prune(self, keep: int = 3) -> None:
        """Delete old bundles, never current, previous or the staged one."""
        staged = self.staged()
        kept = (self.target("current"), self.target("previous"), self.root / staged["bundle"] if staged else None)
        protected = {p.resolve() for p in kept if p}
        bundles = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink() and p != self.staging),
                         key=lambda p: p.stat().st_mtime)
        for old in bundles[:-keep]:
            if old.resolve() not in protected:
                shutil.rmtree(old, ignore_errors=True)
