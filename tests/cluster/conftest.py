"""The cluster tier's one standalone session cluster, shared by every module of the tier.

Started with ``adstream flink up``'s code on the test ports and, if it was not running before,
stopped at the end by its recorded pids only. Shared across modules because a start costs
10-20 s here and the tests' jobs leave it as they found it (each stops what it submitted)."""
from __future__ import annotations

import os

import pytest


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture(scope="package")
def cluster(stack):
    from scripts.flinkctl import control
    before = control.running(stack)
    control.up(stack)
    started = control.running(stack)
    yield stack
    if not before:
        control.down(stack)
        # only what we started is gone, and it is gone
        assert not any(os.path.exists(f"/proc/{pid}") and _cmdline(pid).find("flink/conf") >= 0
                       for pid in started.values())
