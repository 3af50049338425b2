"""kill -9 at every controlled point of install, switch, trial, mark-good and
rollback (the ``EDGE_AGENT_CRASH_AT`` hook in updates/store.py): after each,
the next start boots a complete, verified model, and the right one: the
packaged model until the second update is marked good, that update after.

The scenario, run in a child process: a fresh box (packaged model, v3) gets
v4, whose trial fails (rolled back to the packaged model), then v5, which is
marked good. A first run lists every point the scenario passes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from edge_agent.updates.signing import generate_keypair
from edge_agent.updates.store import ModelStore

from update_kit import booted_version, new_version, staging_empty, url_offer

SCENARIO = """
import json, sys
sys.path.insert(0, {tests!r})
from update_kit import controller, run_offer
from pathlib import Path
offers = json.loads(Path({offers!r}).read_text())
ctrl, hooks = controller(Path({state!r}), [Path({pub!r})], rollback_frames=2, trial_frames=2)
assert run_offer(ctrl, hooks, offers["v4"])["stage"] == "installed"
ctrl.frame_done(False); ctrl.frame_done(False)
assert hooks.results[-1]["stage"] == "rolled back", hooks.results
assert run_offer(ctrl, hooks, offers["v5"])["stage"] == "installed"
ctrl.frame_done(True); ctrl.frame_done(True)
assert hooks.results[-1]["stage"] == "marked good", hooks.results
print("scenario complete")
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    key, pub = generate_keypair(folder / "keys")
    offers = {f"v{v}": url_offer(new_version(folder / f"v{v}", key, v), [key])[0] for v in (4, 5)}
    (folder / "offers.json").write_text(json.dumps(offers))
    return folder, pub


def run(folder: Path, pub: Path, state: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = SCENARIO.format(tests=str(ROOT / "tests"), offers=str(folder / "offers.json"), state=str(state), pub=str(pub))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_kill_9_at_every_point_boots_a_verified_and_the_right_model(scenario, tmp_path):
    folder, pub = scenario
    trace = tmp_path / "trace.txt"
    clean = run(folder, pub, tmp_path / "traced", {"EDGE_AGENT_CRASH_TRACE": str(trace)})
    assert clean.returncode == 0 and "scenario complete" in clean.stdout, clean.stderr[-2000:]
    points = trace.read_text().split()
    assert len(points) >= 30, points
    good_from = points.index("mark-good-after#1")
    for i, point in enumerate(points):
        state = tmp_path / f"state-{i}"
        killed = run(folder, pub, state, {"EDGE_AGENT_CRASH_AT": point})
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-1500:])
        expected = 5 if i >= good_from else 3
        assert booted_version(state) == expected, point
        assert booted_version(state) == expected and ModelStore(state).trial() is None, point  # the rollback is on disk
        assert staging_empty(state), point
    print(f"kill -9 points: {len(points)}")
