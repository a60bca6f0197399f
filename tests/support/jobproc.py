"""Run an ``adstream job …`` as its own process group, and kill that group like a crash would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from udfs import config


def launch(job: str, sets: list[str], *extra: str, log=None) -> subprocess.Popen:
    """``adstream --env test --set … job JOB …`` in a new session (so the JVM it starts is ours too)."""
    cmd = [sys.executable, "-m", "scripts.cli", "--env", "test",
           *[x for s in sets for x in ("--set", s)], "job", job, *extra]
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=config.ROOT)
    finally:
        if log:
            out.close()


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the job's process group (the Python client and the JVM it launched)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
