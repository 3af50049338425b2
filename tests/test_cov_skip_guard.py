"""--fail-on-skip (tests/skip_guard.py): a skip outside the allow-list fails
the run, an allowed one (no NPU/GPU) does not, and without the option skips
are only reported."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_pytest(folder: Path, body: str, *options: str) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom skip_guard import *  # noqa\n"
                                        "from skip_guard import pytest_addoption, pytest_collectreport, "
                                        "pytest_runtest_logreport, pytest_sessionfinish, pytest_terminal_summary  # noqa\n")
    (folder / "test_sample.py").write_text("import pytest\n\n" + body)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "--rootdir", str(folder),
                           str(folder), *options], capture_output=True, text=True, cwd=folder)


def test_a_skip_outside_the_allow_list_fails_the_run(tmp_path):
    body = "def test_ok():\n    pass\n\ndef test_needs_broker():\n    pytest.skip('mosquitto is not installed')\n"
    r = run_pytest(tmp_path, body, "--fail-on-skip")
    assert r.returncode == 1, r.stdout
    assert "skips not allowed" in r.stdout and "test_needs_broker: mosquitto is not installed" in r.stdout
    assert run_pytest(tmp_path, body).returncode == 0  # without the option: reported only


def test_a_module_level_skip_fails_the_run_too(tmp_path):
    r = run_pytest(tmp_path, "torch = pytest.importorskip('surely_not_installed_module')\n\ndef test_x():\n    pass\n",
                   "--fail-on-skip")
    assert r.returncode == 1 and "surely_not_installed_module" in r.stdout, r.stdout


def test_allowed_hardware_skips_pass(tmp_path):
    body = ("def test_ok():\n    pass\n\ndef test_npu():\n    pytest.skip('no NPU on this machine')\n\n"
            "@pytest.mark.skipif(True, reason='needs a GPU')\ndef test_gpu():\n    pass\n")
    r = run_pytest(tmp_path, body, "--fail-on-skip")
    assert r.returncode == 0, r.stdout
    assert "2 skipped" in r.stdout and "skips not allowed" not in r.stdout


def test_a_failing_run_stays_failed(tmp_path):
    r = run_pytest(tmp_path, "def test_bad():\n    assert False\n", "--fail-on-skip")
    assert r.returncode == 1
