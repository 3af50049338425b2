"""The box's update orchestration: offer -> download -> verify -> install ->
swap -> trial -> kept, or rolled back.

The agent's loop owns the model in use; this controller never touches it.
It is driven by the loop (``offer`` from the ``update`` command, ``poll``
between frames, ``frame_done`` after every frame) and acts through the
callbacks in ``UpdateHooks`` (put an enhancer in use, publish, reply), so
the swap happens on the loop thread, between two frames, and a box without
MQTT runs the same code with no-op callbacks.

After a swap the new model is on trial: ``rollback_frames`` failing frames
in a row put the previous one back (in use and on disk); ten times as many
good frames end the trial.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import UpdatesConfig
from ..errors import CommandError
from ..runtime.enhancer import EnhanceSettings, Enhancer
from .checks import check_offer
from .install import UpdateJob
from .protocol import Offer
from .store import ModelStore

ChunkSink = Callable[[str, int, bytes], None]  # (transfer id, chunk index, bytes)
TRIAL_LENGTH = 10  # good frames that end a trial, in multiples of rollback_frames


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


@dataclass
class Trial:
    """A freshly swapped-in model, watched until proven or rolled back."""

    previous: Enhancer
    failures: int = 0  # in a row
    good: int = 0


class UpdateController:
    """One update at a time, from offer to a kept or rolled-back model."""

    def __init__(self, cfg: UpdatesConfig, store: ModelStore, settings: EnhanceSettings, hooks: UpdateHooks) -> None:
        self.cfg, self.store, self.settings, self.hooks = cfg, store, settings, hooks
        self.request: Any = None  # the latest `update` command: progress and outcome replies go to it
        self.job: UpdateJob | None = None
        self.result: tuple[Path | None, Enhancer | None, str | None] | None = None  # set by the job's thread
        self.trial: Trial | None = None

    def offer(self, args: dict[str, Any]) -> dict[str, Any]:
        """The `update` command: refuse what can be refused now, else start the job."""
        if not self.cfg.trusted_keys:
            raise CommandError("updates are disabled: no trusted_keys in this box's config")
        if self.job is not None and self.job.is_alive():
            raise CommandError("an update is already in progress")
        offer = Offer.parse(args)
        manifest = check_offer(offer, self.cfg.trusted_keys, self.hooks.running().bundle.version_code)
        request = self.request

        def progress(stage: str, extra: dict[str, Any]) -> None:
            self.hooks.reply(request, {"ok": True, "stage": stage, **extra})

        def done(bundle_dir: Path | None, enhancer: Enhancer | None, error: str | None) -> None:
            self.result = (bundle_dir, enhancer, error)  # applied by the loop, between two frames

        self.job = UpdateJob(offer, self.store, self.settings, progress,
                             lambda missing: self.hooks.request_chunks(str(offer.transfer_id), missing), done)
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
        if error is not None or enhancer is None or bundle_dir is None:
            self._report({"ok": False, "stage": "refused", "error": error})
            return
        previous = self.hooks.running()
        self.hooks.use(enhancer)  # the swap: between two frames, no frame lost
        self.store.switch_to(bundle_dir)
        self.store.prune(self.cfg.keep_bundles)
        self.trial = Trial(previous)
        self.hooks.announce()
        self._report({"ok": True, "stage": "installed", "version": enhancer.bundle.version,
                      "version_code": enhancer.bundle.version_code})

    def frame_done(self, ok: bool) -> None:
        """After every frame: count the new model's failures and roll back when
        ``rollback_frames`` fail in a row."""
        trial = self.trial
        if trial is None:
            return
        trial.failures = 0 if ok else trial.failures + 1
        trial.good += int(ok)
        if trial.failures >= self.cfg.rollback_frames:
            failed = self.hooks.running().bundle.version
            self.hooks.use(trial.previous)
            self.store.roll_back()
            self.trial = None
            self.hooks.announce()
            self._report({"ok": False, "stage": "rolled back", "error": f"model {failed} failed "
                          f"{self.cfg.rollback_frames} frames in a row; back on {trial.previous.bundle.version}"})
        elif trial.good >= TRIAL_LENGTH * self.cfg.rollback_frames:
            self.trial = None  # proven: stop watching

    def _report(self, body: dict[str, Any]) -> None:
        self.hooks.reply(self.request, body)
        self.hooks.publish_result(body)
