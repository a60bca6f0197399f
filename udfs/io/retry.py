"""An online-store write retried through a short outage before it fails the task.

A Redis restart or pause is an outage of seconds; failing the task at once would spend the
restart strategy's few attempts on it and end the job FAILED. Waiting holds the operator
(and the checkpoint barrier behind it) until the store is back — the backpressure we want.
Only for idempotent writes (absolute values, versions): a retried write must be safe.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def retry_for(write: Callable[[], T], seconds: float, on_retry: Callable[[float, Exception], None]) -> T:
    """``write()``, retried with a doubling delay (50 ms up to 2 s) for up to ``seconds``; then
    the last exception is raised. ``on_retry(delay, exc)`` is told of every retry."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        try:
            return write()
        except Exception as e:
            if time.monotonic() + delay > deadline:
                raise
            on_retry(delay, e)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
