"""``msgspec.convert`` whose first call per target type runs in one thread at a time.

Why: msgspec builds a type's conversion info lazily, on the first ``convert`` to it, and
stores it on the type. In a Flink job every embedded Python operator decodes the shipped
config in its ``open`` and the task threads open at the same moment; two threads building
the same type's info at once crashed the whole TaskManager JVM with SIGSEGV inside msgspec's
``convert`` (seen twice, both in ``open``: the feedback job's stages, 2026-12-03). Once a type
has been converted, later calls take no lock.
"""
from __future__ import annotations

import threading
from typing import Any

import msgspec

_lock = threading.Lock()
_warm: set = set()


def convert(data: Any, tp: Any, **kwargs: Any) -> Any:
    try:
        if tp in _warm:
            return msgspec.convert(data, tp, **kwargs)
    except TypeError:   # an unhashable type form: always under the lock
        pass
    with _lock:
        try:
            return msgspec.convert(data, tp, **kwargs)
        finally:
            try:
                _warm.add(tp)   # also after a ValidationError: the info was built by then
            except TypeError:
                pass
