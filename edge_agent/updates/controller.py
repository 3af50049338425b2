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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import UpdatesConfig
from ..errors import CommandError
from ..fsutil import sha256_bytes
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .checks import Policy, check_offer
from .install import Limits, UpdateJob
from .protocol import Offer
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
        self.job: UpdateJob | None = None
        self.job_request: Any = None  # the request of the running job: its replies go there
        self.job_floor = 0
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
        if (self.job is not None and self.job.is_alive()) or self.result is not None:
            raise CommandError("an update is already in progress")
        if self.trial is not None:
            raise CommandError("the last update is still on trial; offer again once it is marked good")
        offer = Offer.parse(args)
        manifest = check_offer(offer, self.policy(), self.hooks.running().bundle.version_code)
        self.store.remember_offer(sha256_bytes(offer.metadata_bytes))  # a captured offer never runs twice
        request = self.job_request = self.request
        self.job_floor = int(offer.meta["floor"])

        def progress(stage: str, extra: dict[str, Any]) -> None:
            self.hooks.reply(request, {"ok": True, "stage": stage, **extra})

        def done(bundle_dir: Path | None, enhancer: Enhancer | None, error: str | None) -> None:
            self.result = (bundle_dir, enhancer, error)  # applied by the loop, between two frames

        self.job = UpdateJob(offer, self.store, self.settings, progress,
                             lambda missing: self.hooks.request_chunks(str(offer.transfer_id), missing), done,
                             self.limits())
        receiver = self.job.receiver
        if receiver is not None:
            self.hooks.route_chunks(lambda tid, i, data: receiver.put(i, data) if tid == offer.transfer_id else None)
        self.job.start()
        return {"accepted": True, "version": manifest["version"], "version_code": manifest["version_code"]}

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
        request = self.job_request
        if error is not None or enhancer is None or bundle_dir is None:
            self._report(request, {"ok": False, "stage": "refused", "error": error})
            return
        previous = self.hooks.running()
        try:
            self.store.switch_to(bundle_dir)  # on disk first: trial marker, previous, current
        except OSError as exc:
            self._report(request, {"ok": False, "stage": "refused", "error": f"cannot switch models: {exc}"})
            return
        self.hooks.use(enhancer)  # the swap: between two frames, no frame lost
        crash_point("apply-after-swap")
        self.store.prune(self.cfg.keep_bundles)
        self.trial = Trial(previous, request, self.job_floor)
        self.hooks.announce()
        self._report(request, {"ok": True, "stage": "installed", "version": enhancer.bundle.version,
                               "version_code": enhancer.bundle.version_code})

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
