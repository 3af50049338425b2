"""The box's update orchestration: offer -> download -> verify -> install ->
swap -> trial -> kept, or rolled back.

The agent's loop owns the model in use; this controller never touches it.
It is driven by the loop (``offer`` from the ``update`` command, ``poll``
between frames, ``frame_done`` after every frame) and acts through the
callbacks in ``UpdateHooks`` (put an enhancer in use, publish, reply), so
the swap happens on the loop thread, between two frames, and a box without
MQTT runs the same code with no-op callbacks.

After a swap the new model is on trial (store.py keeps the marker on
disk): ``rollback_frames`` failing frames in a row put the previous one back,
on disk first and then in use (the packaged model when there was no
previous); ``trial_frames`` good frames in a row and a passing health check
mark it good. Every reply and the final result of a transfer go to the
request that started it, never to a later one.

With ``updates.auto_install: false`` a verified offer (every check, the
download, the files and the smoke test, as above) is staged instead of
swapped in: kept in the store (store.py ``staged.json``, so it survives a
restart) and announced through ``UpdateHooks.staged`` (Home Assistant's
update entity shows it as the latest version). The ``install_update``
command (the entity's Install) installs it by the same path: files verified
again, smoke test, swap, trial, rollback.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import UpdatesConfig
from ..errors import CommandError
from ..fsutil import sha256_bytes
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .checks import Policy, check_offer
from .install import Limits, StagedInstall, UpdateJob
from .protocol import Offer, release_summary
from .store import ModelStore, crash_point

ChunkSink = Callable[[str, int, bytes], None]  # (transfer id, chunk index, bytes)


@dataclass(frozen=True)
class UpdateHooks:
    """What the controller needs from the agent, as callbacks."""

    running: Callable[[], Enhancer]  # the enhancer in use now
    use: Callable[[Enhancer], None]  # put an enhancer in use (called on the loop, between frames)
    announce: Callable[[], None]  # publish the box's state after a swap
    reply: Callable[[Any, dict[str, Any]], None]  # answer an `update` command (opaque request)
    publish_result: Callable[[dict[str, Any]], None]  # the retained outcome
    request_chunks: Callable[[str, list[int]], None]  # ask the fleet again for missing chunks
    route_chunks: Callable[[ChunkSink | None], None]  # send incoming chunks to a receiver; None: stop
    healthy: Callable[[], bool] = lambda: True  # the health check that must pass to mark a model good
    staged: Callable[[dict[str, Any] | None], None] = lambda info: None  # the update waiting for an install (None: none)


@dataclass
class Trial:
    """A freshly swapped-in model, watched until proven or rolled back."""

    previous: Enhancer
    request: Any  # who asked for this model: the outcome goes to them
    floor: int  # the version floor the offer raises the box to once marked good
    failures: int = 0  # in a row
    good: int = 0  # in a row


class UpdateController:
    """One update at a time, from offer to a kept or rolled-back model."""

    def __init__(self, cfg: UpdatesConfig, store: ModelStore, settings: EnhanceSettings, hooks: UpdateHooks,
                 targets: set[str] | None = None, clock_skew_s: float = 300.0) -> None:
        self.cfg, self.store, self.settings, self.hooks = cfg, store, settings, hooks
        self.targets, self.clock_skew_s = targets or {"fleet"}, clock_skew_s
        self.request: Any = None  # the `update` command being handled now (set by the loop)
        self.job: threading.Thread | None = None
        self.job_request: Any = None  # the request of the running job: its replies go there
        self.job_floor = 0
        self.job_mode = "switch"  # switch: an offer installed on arrival; stage: an offer kept; install: a staged one
        self.job_summary = ""
        self.staged = store.staged()  # a verified update waiting for an install command (auto_install false)
        hooks.staged(self.staged)
        self.result: tuple[Path | None, Enhancer | None, str | None] | None = None  # set by the job's thread
        self.trial: Trial | None = None

    def policy(self) -> Policy:
        """What this box accepts now (keys, identity, limits, floor and accepted offers on disk)."""
        history = self.store.history()
        return Policy(list(self.cfg.trusted_keys), self.cfg.threshold, set(self.targets), tuple(self.cfg.url_schemes),
                      int(self.cfg.max_unpacked_mb * (1 << 20)), self.cfg.max_files, self.clock_skew_s,
                      history["floor"], frozenset(history["seen"]))

    def limits(self) -> Limits:
        """The transfer's limits from the config."""
        return Limits(tuple(self.cfg.url_schemes), self.cfg.download_deadline_s, self.cfg.download_min_rate_bps,
                      max_unpacked_bytes=int(self.cfg.max_unpacked_mb * (1 << 20)), max_files=self.cfg.max_files)

    def offer(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `update` command: refuse what can be refused now, else start the job."""
        if not self.cfg.trusted_keys:
            raise CommandError("updates are disabled: no trusted_keys in this box's config")
        self._check_idle("offer")
        offer = Offer.parse(args)
        manifest = check_offer(offer, self.policy(), self.hooks.running().bundle.version_code)
        staged = self.staged
        if staged is not None and offer.version_code <= staged["version_code"] and not offer.meta.get("downgrade"):
            raise CommandError(f"update refused: version code {offer.version_code} is not above the staged "
                               f"{staged['version_code']}; install that one, or offer a newer one")
        self.store.remember_offer(sha256_bytes(offer.metadata_bytes))  # a captured offer never runs twice
        request = self.job_request = self.request
        self.job_floor = int(offer.meta["floor"])
        self.job_mode = "switch" if self.cfg.auto_install else "stage"
        self.job_summary = release_summary(offer.meta, manifest)
        job = UpdateJob(offer, self.store, self.settings, self._progress(request, str(manifest["version"])),
                        lambda missing: self.hooks.request_chunks(str(offer.transfer_id), missing), self._done,
                        self.limits())
        receiver = job.receiver
        if receiver is not None:
            self.hooks.route_chunks(lambda tid, i, data: receiver.put(i, data) if tid == offer.transfer_id else None)
        self.job = job
        job.start()
        return {"accepted": True, "version": manifest["version"], "version_code": manifest["version_code"],
                "install": "on arrival" if self.cfg.auto_install else "staged, on an install command"}

    def install(self) -> dict[str, Any]:
        """The ``install_update`` command: install the staged update (verify,
        smoke-test, swap, trial), as an offer is installed on arrival."""
        staged = self.staged
        if staged is None:
            why = ("this box installs updates as they arrive (updates.auto_install is true) and none is pending"
                   if self.cfg.auto_install else "no verified update has arrived since the last install")
            raise CommandError(f"nothing to install: no update is staged; {why}")
        self._check_idle("install")
        floor = self.store.history()["floor"]
        if int(staged.get("version_code", -1)) < floor:
            self._unstage()
            raise CommandError(f"update refused: the staged version code is below this box's floor {floor}")
        request = self.job_request = self.request
        self.job_floor, self.job_mode = int(staged.get("floor", 0)), "install"
        self.job = StagedInstall(self.store.root / staged["bundle"], self.settings,
                                 self._progress(request, str(staged.get("version"))), self._done)
        self.job.start()
        return {"installing": staged.get("version"), "version_code": staged.get("version_code")}

    def _check_idle(self, what: str) -> None:
        if (self.job is not None and self.job.is_alive()) or self.result is not None:
            raise CommandError("an update is already in progress")
        if self.trial is not None:
            raise CommandError(f"the last update is still on trial; {what} again once it is marked good")

    def _progress(self, request: Any, version: str) -> Callable[[str, dict[str, Any]], None]:
        """The job's progress, as replies to the request that started it (with the version on its way)."""
        return lambda stage, extra: self.hooks.reply(request, {"ok": True, "stage": stage, "version": version, **extra})

    def _done(self, bundle_dir: Path | None, enhancer: Enhancer | None, error: str | None) -> None:
        self.result = (bundle_dir, enhancer, error)  # on the job's thread; applied by the loop, between two frames

    def poll(self) -> None:
        """On the loop, between frames: swap in a finished job's model."""
        if self.result is not None:
            self.apply()

    def apply(self) -> None:
        """Swap in the finished job's model (or report its error) and start its trial."""
        assert self.result is not None
        bundle_dir, enhancer, error = self.result
        self.result = None
        self.hooks.route_chunks(None)
        request, mode = self.job_request, self.job_mode
        if error is not None or enhancer is None or bundle_dir is None:
            if mode == "install":
                self._unstage()  # a staged update that fails its install is not offered again
            self._report(request, {"ok": False, "stage": "refused", "error": error})
            return
        if mode == "stage":
            self._stage(request, bundle_dir, enhancer)
            return
        previous = self.hooks.running()
        try:
            self.store.switch_to(bundle_dir)  # on disk first: trial marker, previous, current
        except OSError as exc:
            self._report(request, {"ok": False, "stage": "refused", "error": f"cannot switch models: {exc}"})
            return
        if mode == "install":
            self._unstage()
        self.hooks.use(enhancer)  # the swap: between two frames, no frame lost
        crash_point("apply-after-swap")
        self.store.prune(self.cfg.keep_bundles)
        self.trial = Trial(previous, request, self.job_floor)
        self.hooks.announce()
        self._report(request, {"ok": True, "stage": "installed", "version": enhancer.bundle.version,
                               "version_code": enhancer.bundle.version_code})

    def _stage(self, request: Any, bundle_dir: Path, enhancer: Enhancer) -> None:
        """Keep a verified offer for an install command; the compiled model is let go meanwhile."""
        bundle = enhancer.bundle
        self.staged = self.store.stage(bundle_dir, {"version": bundle.version, "version_code": bundle.version_code,
                                                    "floor": self.job_floor, "summary": self.job_summary})
        self.store.prune(self.cfg.keep_bundles)
        self.hooks.staged(self.staged)
        self._report(request, {"ok": True, "stage": "staged", "version": bundle.version,
                               "version_code": bundle.version_code})

    def _unstage(self) -> None:
        self.store.unstage()
        self.staged = None
        self.hooks.staged(None)

    def frame_done(self, ok: bool) -> None:
        """After every frame: roll back when ``rollback_frames`` fail in a row;
        mark good after ``trial_frames`` good ones in a row and a passing health check."""
        trial = self.trial
        if trial is None:
            return
        trial.failures = 0 if ok else trial.failures + 1
        trial.good = trial.good + 1 if ok else 0
        if trial.failures >= self.cfg.rollback_frames:
            self.roll_back(f"failed {self.cfg.rollback_frames} frames in a row")
        elif trial.good >= self.cfg.trial_frames and self.hooks.healthy():
            self.store.mark_good(trial.floor)
            self.trial = None
            self._report(trial.request, {"ok": True, "stage": "marked good", "version": self.hooks.running().bundle.version})

    def roll_back(self, why: str) -> None:
        """Put the trial's previous model back: on disk (durably), then in use."""
        trial = self.trial
        assert trial is not None
        failed = self.hooks.running().bundle.version
        self.store.roll_back()
        crash_point("apply-rollback-on-disk")
        self.hooks.use(trial.previous)
        self.trial = None
        self.hooks.announce()
        self._report(trial.request, {"ok": False, "stage": "rolled back",
                                     "error": f"model {failed} {why}; back on {trial.previous.bundle.version}"})

    def _report(self, request: Any, body: dict[str, Any]) -> None:
        self.hooks.reply(request, body)
        self.hooks.publish_result(body)
