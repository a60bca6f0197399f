"""The jobs' gauges (freshness, latency) in their ``adstream`` metric group.

Measured in PyFlink 2.2.1 thread mode (the jobs' ``python.execution-mode``): ``counter``,
``gauge``, ``meter`` and ``distribution`` all register and reach the Prometheus reporter, but
``distribution`` is a gauge of the last value (a Java ``Gauge<Long>``, no count or quantiles)
and every ``update``/``mark_event``/``inc`` is a call into the JVM. A ``gauge`` is a Python
callable the JVM calls when a reporter or the REST API reads it, so the job's hot path only
assigns an attribute. Its callable must return an ``int`` (the JVM casts it to ``Long``), hence
the scale applied at read time, not per record.

By convention a gauge's name ends in its unit (``_ms``, ``_us``): that is how
``adstream flink status`` tells a gauge (the worst subtask: max) from a counter (summed).
"""
from __future__ import annotations

import time

NONE_YET = -1   # what a gauge reads before its first value (nothing written or answered yet)
UNITS = ("_ms", "_us")


class LastValue:
    """One gauge's latest value, set on the task's thread and read on the reporter's (an
    attribute read, atomic under the GIL). ``scale`` turns the stored number into the int the
    gauge reports (e.g. 1000: milliseconds stored, microseconds reported)."""
    __slots__ = ("value", "scale")

    def __init__(self, scale: float = 1.0) -> None:
        self.value: float = NONE_YET
        self.scale = scale

    def read(self) -> int:
        v = self.value
        return NONE_YET if v == NONE_YET else int(v * self.scale)

    def register(self, group, name: str) -> "LastValue":
        if not name.endswith(UNITS):
            raise ValueError(f"gauge {name!r} must end in its unit, one of {UNITS}")
        group.gauge(name, self.read)
        return self


def age_ms(event_ms: int) -> int:
    """Wall-clock milliseconds since ``event_ms`` (an event time): the freshness of what was
    just written. Negative when the event's clock is ahead of this machine's."""
    return time.time_ns() // 1_000_000 - event_ms
