"""Follow a submitted job until it ends: say when it restarts or fails, exit non-zero on failure.

Before this the CLI printed "running" and blocked on the job's result while Flink
restarted a failing task over and over. Now the JobClient's status is polled every
``flink.status_poll_ms``: a RESTARTING job is reported (with where its logs are), and
a FAILED one — the bounded restart strategy (``flink.restart_*``) gave up — ends the
command with exit code 1 and the failure's chain of causes. No PyFlink import here:
the client is whatever ``execute_async`` returned (or a test double with its methods).
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

FAILED_EXIT = 1
TROUBLE = ("RESTARTING", "FAILING", "FAILED", "CANCELLING", "CANCELED", "SUSPENDED")   # said on stderr
MAX_CAUSES = 8          # a Java cause chain is rarely deeper; the log has the full trace
MAX_CAUSE_CHARS = 300   # per cause: its first line, cut


def _status(client) -> str | None:
    """The job's status name, None when it cannot be asked (e.g. the mini-cluster shut down)."""
    try:
        return client.get_job_status().result().name
    except Exception:
        return None


def failure_reason(exc: BaseException) -> str:
    """``Class: message ← Class: message …`` down the (Java, then Python) cause chain."""
    parts: list[str] = []
    j = getattr(exc, "java_exception", None)
    while j is not None and len(parts) < MAX_CAUSES:
        try:
            msg = str(j.getMessage() or "").splitlines()
            parts.append(f"{j.getClass().getSimpleName()}: {msg[0] if msg else ''}"[:MAX_CAUSE_CHARS])
            nxt = j.getCause()
        except Exception:
            break
        j = None if nxt is None or nxt == j else nxt
    if not parts:
        e: BaseException | None = exc
        while e is not None and len(parts) < MAX_CAUSES:
            first = (str(e).splitlines() or [""])[0]
            parts.append(f"{type(e).__name__}: {first}"[:MAX_CAUSE_CHARS])
            e = e.__cause__ or e.__context__
    return " ← ".join(parts)


def watch(client, label: str, poll_ms: int, log_dir, *, out: TextIO = sys.stdout,
          err: TextIO = sys.stderr, sleep: Callable[[float], None] = time.sleep) -> int:
    """Block until the job ends; 0 when it finished, ``FAILED_EXIT`` when it failed or was cancelled."""
    print(f"{label} job {client.get_job_id()} running; Ctrl-C stops it; logs in {log_dir}",
          file=out, flush=True)
    result = client.get_job_execution_result()
    last = "RUNNING"
    while not result.done():
        status = _status(client)
        if status is not None and status != last:
            if status == "RESTARTING":
                print(f"{label} job RESTARTING after a task failure (see {log_dir})", file=err, flush=True)
            else:
                print(f"{label} job {status}", file=err if status in TROUBLE else out, flush=True)
            last = status
        if status in ("FAILED", "CANCELED", "FINISHED"):
            break
        sleep(poll_ms / 1000.0)
    try:
        result.result()
    except Exception as e:
        print(f"{label} job FAILED: {failure_reason(e)} (logs: {log_dir})", file=err, flush=True)
        return FAILED_EXIT
    final = _status(client)
    if final in ("FAILED", "CANCELED"):
        print(f"{label} job {final} (logs: {log_dir})", file=err, flush=True)
        return FAILED_EXIT
    print(f"{label} job finished", file=out, flush=True)
    return 0
