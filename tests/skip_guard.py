"""`--fail-on-skip`: a skip is reported (run with -rs) and fails the run
unless its reason matches ALLOWED_SKIPS (hardware CI does not have). Loaded
by tests/conftest.py; tests/run.sh and CI pass the option."""
from __future__ import annotations

import re

import pytest

# A skip whose reason matches one of these is allowed under --fail-on-skip;
# any other skip fails the run. Keep it short, each entry with its reason.
ALLOWED_SKIPS = {
    r"\bNPU\b": "CI machines have no NPU (Intel Core Ultra / Movidius); the NPU path runs on a box that has one",
    r"\bGPU\b": "CI machines have no GPU; GPU device tests run where one is lent",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fail-on-skip", action="store_true",
                     help="fail the run if a test skips for a reason outside ALLOWED_SKIPS in tests/skip_guard.py")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def skip_allowed(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern in ALLOWED_SKIPS)


_disallowed_skips: list[str] = []


def _record_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        if not skip_allowed(reason):
            _disallowed_skips.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("--fail-on-skip") and _disallowed_skips \
            and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if config.getoption("--fail-on-skip") and _disallowed_skips:
        terminalreporter.section("skips not allowed (--fail-on-skip)", sep="=", red=True, bold=True)
        for line in _disallowed_skips:
            terminalreporter.line(line)
        terminalreporter.line(f"{len(_disallowed_skips)} test(s) skipped for reasons outside ALLOWED_SKIPS "
                              "(tests/skip_guard.py): install what they need (tests/run.sh) or fix the test")
