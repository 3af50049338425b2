"""Installed models on the box, safe against power loss.

::

    <state>/models/<version_code>-<sha8>/   complete, verified bundles (never modified)
    <state>/models/current  -> <dir>        symlink, replaced atomically (rename)
    <state>/models/previous -> <dir>        the bundle to roll back to
    <state>/models/staging/                 downloads and unpacking in progress

A bundle directory appears only by ``rename`` of a fully unpacked and
verified folder, and ``current`` changes only by renaming a new symlink over
it, so a ``kill -9`` at any point leaves ``current`` pointing at a complete,
verified bundle: the old one or the new one, never a mix. At start the box
uses ``current`` if it verifies, else ``previous``, else the packaged model.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..errors import BundleError
from ..fsutil import fsync_dir
from ..paths import STORE_FOLDER
from ..runtime.bundle import Bundle, load_bundle

log = logging.getLogger("edge_agent.model_store")


class ModelStore:
    """The installed bundles and the two symlinks that say which one runs."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / STORE_FOLDER
        self.staging = self.root / "staging"
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(exist_ok=True)

    def _link(self, name: str) -> Path:
        return self.root / name

    def target(self, name: str) -> Path | None:
        """The bundle folder ``name`` (current/previous) points at, if any."""
        link = self._link(name)
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
        """What to run at start: current, else previous, else the fallback."""
        self.clean_staging()
        return self.load("current") or self.load("previous") or load_bundle(fallback)

    def clean_staging(self) -> None:
        """Anything in staging at start was interrupted: it is never used."""
        for entry in self.staging.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.suffix in (".part", ".tmp"):
                entry.unlink(missing_ok=True)

    def adopt(self, unpacked: Path, name: str) -> Path:
        """Move a verified, unpacked bundle from staging into the store."""
        final = self.root / name
        if final.exists():
            shutil.rmtree(unpacked, ignore_errors=True)
            return final
        os.replace(unpacked, final)
        fsync_dir(self.root)
        return final

    def point(self, name: str, bundle_dir: Path) -> None:
        """Atomically make ``name`` (current/previous) point at ``bundle_dir``."""
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(bundle_dir.name, tmp)
        os.replace(tmp, self._link(name))
        fsync_dir(self.root)

    def switch_to(self, bundle_dir: Path) -> None:
        """current -> new, previous -> what current was."""
        old = self.target("current")
        if old is not None and old.resolve() != bundle_dir.resolve():
            self.point("previous", old)
        self.point("current", bundle_dir)

    def roll_back(self) -> Path | None:
        """current -> previous; returns the bundle now current (None: nothing to go back to)."""
        previous = self.target("previous")
        if previous is not None:
            self.point("current", previous)
        return previous

    def prune(self, keep: int = 3) -> None:
        """Delete old bundles, never current or previous."""
        protected = {p.resolve() for p in (self.target("current"), self.target("previous")) if p}
        bundles = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink() and p != self.staging),
                         key=lambda p: p.stat().st_mtime)
        for old in bundles[:-keep]:
            if old.resolve() not in protected:
                shutil.rmtree(old, ignore_errors=True)

