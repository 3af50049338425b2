"""A/B with a trial and mark-good: a failed trial rolls back on disk (also on
a fresh box whose only other model is the packaged one), a crash during the
trial rolls back at the next start, a model that proves itself is marked
good, and every outcome goes to the requester of that transfer."""
from __future__ import annotations

import pytest

from edge_agent.updates.store import ModelStore

from update_kit import booted_version, controller, run_offer, url_offer
from update_kit import keys, versions  # noqa: F401  (fixtures)


def fail_frames(ctrl, n: int) -> None:
    for _ in range(n):
        ctrl.frame_done(ok=False)


def test_failed_first_update_on_a_fresh_box_falls_back_to_the_packaged_model_for_good(tmp_path, keys, versions):
    state = tmp_path / "fresh-state"  # nothing installed before: no `previous`
    ctrl, hooks = controller(state, [keys[1]], rollback_frames=2)
    assert run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])["stage"] == "installed"
    assert ModelStore(state).trial() is not None and hooks.enhancer.bundle.version_code == 4
    fail_frames(ctrl, 2)
    assert hooks.results[-1]["stage"] == "rolled back" and hooks.enhancer.bundle.version_code == 3
    store = ModelStore(state)
    assert store.target("current") is None and store.trial() is None
    assert booted_version(state) == 3  # a restart boots the packaged model, not the failed one
    assert booted_version(state) == 3  # and again


def test_failed_update_rolls_back_to_the_previous_installed_model(tmp_path, keys, versions):
    state = tmp_path / "state"
    ctrl, hooks = controller(state, [keys[1]], rollback_frames=2, trial_frames=3)
    run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])
    for _ in range(3):
        ctrl.frame_done(ok=True)
    assert hooks.results[-1]["stage"] == "marked good" and ModelStore(state).trial() is None
    assert run_offer(ctrl, hooks, url_offer(versions[5], [keys[0]])[0])["stage"] == "installed"
    fail_frames(ctrl, 2)
    assert hooks.enhancer.bundle.version_code == 4 and booted_version(state) == 4


def test_a_crash_during_the_trial_rolls_back_at_the_next_start(tmp_path, keys, versions):
    state = tmp_path / "state"
    ctrl, hooks = controller(state, [keys[1]])
    run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]])[0])
    assert ModelStore(state).target("current").name.startswith("4-")
    # the process dies here (no mark-good): the next start must not trust the model on trial
    assert booted_version(state) == 3 and ModelStore(state).trial() is None


def test_mark_good_needs_good_frames_in_a_row_and_a_passing_health_check(tmp_path, keys, versions):
    state = tmp_path / "state"
    ctrl, hooks = controller(state, [keys[1]], trial_frames=4, rollback_frames=3)
    healthy = {"ok": False}
    ctrl.hooks = ctrl.hooks.__class__(**{**ctrl.hooks.__dict__, "healthy": lambda: healthy["ok"]})
    run_offer(ctrl, hooks, url_offer(versions[4], [keys[0]], floor=4)[0])
    for ok in (True, True, False, True, True, True, True, True):
        ctrl.frame_done(ok=ok)
    assert ctrl.trial is not None  # good frames, but the health check fails
    healthy["ok"] = True
    ctrl.frame_done(ok=True)
    assert ctrl.trial is None and hooks.results[-1]["stage"] == "marked good"
    assert ModelStore(state).history()["floor"] == 4 and booted_version(state) == 4


def test_the_outcome_goes_to_the_requester_of_that_transfer(tmp_path, keys, versions):
    ctrl, hooks = controller(tmp_path / "state", [keys[1]], rollback_frames=1)
    args, _ = url_offer(versions[4], [keys[0]])
    ctrl.request = "first"
    ctrl.offer(args)
    ctrl.request = "second"  # a later `update` command, refused while the first one runs
    with pytest.raises(Exception, match="already in progress"):
        ctrl.offer(url_offer(versions[5], [keys[0]])[0])
    ctrl.job.join(timeout=300)
    ctrl.poll()
    ctrl.frame_done(ok=False)
    assert {req for req, _ in hooks.replies} == {"first"}
    assert [body["stage"] for _, body in hooks.replies][-2:] == ["installed", "rolled back"]
