"""Model hot reload: follow the registry's ``current`` pointer, swap only to a model that works.

The registry replaces its pointer file atomically, so a ``stat`` every
``poll_ms`` is enough to notice a promotion. When the pointer (or the files of the
version it names) change, the new model is loaded and warmed up *beside* the one
in use; only then is it swapped in, between two requests, so no request is
dropped, duplicated or scored half by one and half by the other. A model that
fails to load keeps the previous one serving; the failure is logged once per
change (not once per poll) and counted.

Pure apart from ``os.stat``: resolving the pointer and loading a model are
functions passed in (the adapter uses ``udfs.core.model_store`` and ``udfs.io.onnx_scorer``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from udfs.core.model_store import MODEL, SIGNATURE

LOADED, FAILED = "loaded", "failed"


def _stat(p: Path) -> tuple:
    try:
        s = os.stat(p)
        return (s.st_ino, s.st_size, s.st_mtime_ns)
    except OSError:
        return ()


class ModelWatcher:
    def __init__(self, pointer: Path, resolve: Callable[[], Path | None], load: Callable[[Path], Any],
                 poll_ms: float, clock_ms: Callable[[], float],
                 log: Callable[[str], None] = lambda msg: None):
        self.pointer, self.resolve, self.load = Path(pointer), resolve, load
        self.poll_ms, self.clock_ms, self.log = poll_ms, clock_ms, log
        self.model: Any = None
        self.loaded_dir: Path | None = None
        self._files: tuple = ()
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None
        self._seen: tuple | None = None
        self._next = float("-inf")

    def _fingerprint(self) -> tuple:
        try:
            target = self.resolve()
        except Exception as e:  # unreadable pointer: treat its contents as the fingerprint
            return (_stat(self.pointer), f"unreadable: {e}")
        if target is None:
            return (_stat(self.pointer), None)
        return (_stat(self.pointer), str(target),
                *(_stat(target / f) for f in (MODEL, SIGNATURE)))

    def poll(self, force: bool = False) -> str | None:
        """Check the pointer if ``poll_ms`` has passed (or ``force``); returns LOADED, FAILED or None."""
        now = self.clock_ms()
        if not force and now < self._next:
            return None
        self._next = now + self.poll_ms
        fp = self._fingerprint()
        if fp == self._seen:
            return None
        self._seen = fp
        target = fp[1] if len(fp) > 1 else None
        if not isinstance(target, str):
            if self.model is None and target is not None:
                return self._fail(f"model pointer {self.pointer}: {target}")
            return None   # nothing promoted (yet), or the pointer vanished: keep what serves
        if self.loaded_dir is not None and str(self.loaded_dir) == target and fp[2:] == self._files:
            self.last_error = None   # the pointer is back on the model that serves
            return None
        try:
            model = self.load(Path(target))
        except Exception as e:
            kept = getattr(self.model, "version", None)
            return self._fail(f"cannot load model {target}: {type(e).__name__}: {e}; "
                              f"{'keeping ' + kept if kept else 'no model: prior-CTR ranking'}")
        old = getattr(self.model, "version", None)
        self.model, self.loaded_dir, self._files = model, Path(target), fp[2:]
        self.reloads += 1
        self.last_error = None
        self.log(f"model {getattr(model, 'version', '?')} loaded from {target}"
                 + (f" (was {old})" if old else ""))
        return LOADED

    def _fail(self, msg: str) -> str:
        self.failures += 1
        self.last_error = msg
        self.log(msg)
        return FAILED
