"""The fuzz suite's pytest set-up: the long campaign runs only when asked for, and its
summary table is printed at the end of the run."""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.fuzz.harness import SUMMARY_DIR, summary


def _campaign_wanted(config: pytest.Config) -> bool:
    """``-m fuzz`` (not ``-m "not fuzz"``), or FUZZ_TRIES set."""
    expr = config.getoption("markexpr", "") or ""
    return bool(re.search(r"(?<!not )\bfuzz\b", expr)) or "FUZZ_TRIES" in os.environ


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the long campaign (marker ``fuzz``) unless ``-m`` names it or FUZZ_TRIES is
    set, so ``pytest tests/fuzz`` runs only the fast subset."""
    if _campaign_wanted(config):
        return
    campaign = [i for i in items if i.get_closest_marker("fuzz") is not None]
    if campaign:
        config.hook.pytest_deselected(items=campaign)
        items[:] = [i for i in items if i.get_closest_marker("fuzz") is None]


_SESSION_START = [time.time()]


def pytest_sessionstart(session: pytest.Session) -> None:
    # Rows are never deleted (other runs may share the folder): the table shows this run's.
    _SESSION_START[0] = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if hasattr(config, "workerinput"):
        return
    mode = "campaign" if _campaign_wanted(config) else "fast"
    fresh = [
        p for p in SUMMARY_DIR.glob(f"{mode}-*.json") if p.stat().st_mtime >= _SESSION_START[0]
    ]
    if fresh:  # this run fuzzed something
        terminalreporter.section(f"fuzz summary ({mode}, {SUMMARY_DIR})")
        terminalreporter.write_line(summary(SUMMARY_DIR, mode, since=_SESSION_START[0]))
