"""The experiments file, followed while the scoring job runs: an edit applies without a restart.

Polled between requests at most every ``scoring_job.experiments_poll_ms``: one ``stat``
per poll, and the file is read and checked (``udfs.config.load_experiments``, the
config's strict rules) only when its modification time or size changed. A file that
fails its checks — or is half-written, or gone — is refused with the reason logged and
the last good experiments stay in force; the next change is tried again. Nothing here
decides a variant (``udfs/core/experiments.py`` does).
"""
from __future__ import annotations

import os
from typing import Callable

from udfs.config import load_experiments
from udfs.config.experiments import Experiments

LOADED, FAILED = "loaded", "failed"


class ExperimentWatcher:
    def __init__(self, path: str, poll_ms: int, clock_ms: Callable[[], float],
                 log: Callable[..., None]):
        self.path, self.poll_ms, self.clock_ms, self.log = path, poll_ms, clock_ms, log
        self.experiments = Experiments()
        self.last_error: str | None = None
        self._seen: tuple | None = None
        self._next = 0.0

    def _signature(self) -> tuple:
        try:
            st = os.stat(self.path)
        except OSError as e:
            return ("missing", e.errno)
        return (st.st_mtime_ns, st.st_size)

    def poll(self, force: bool = False) -> str | None:
        """``'loaded'`` when a changed file was taken, ``'failed'`` when it was refused, else None."""
        now = self.clock_ms()
        if not self.path or (not force and now < self._next):
            return None
        self._next = now + self.poll_ms
        sig = self._signature()
        if sig == self._seen and not force:
            return None
        self._seen = sig
        try:
            exps = load_experiments(self.path)
        except Exception as e:   # a check, YAML syntax, a read: any of them refuses this version only
            self.last_error = str(e)
            self.log("experiments file %s refused, the last good one stays in force: %s", self.path, e)
            return FAILED
        self.experiments, self.last_error = exps, None
        return LOADED
