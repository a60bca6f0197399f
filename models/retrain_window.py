"""The time window of ``adstream model retrain``: durations (``30m``, ``6h``, ``2d``) and instants.

``--since`` and ``--until`` each take a duration counted back from now (``6h``: six hours
ago) or an ISO-8601 time (``2026-12-03T06:00Z``; UTC when it names no zone); ``--every`` takes
a duration. Pure: "now" is passed in, so a run of ``--every`` resolves the same text to a
window that moves with the clock, and the tests need no clock. A window is half-open,
``since <= ts < until``, in epoch milliseconds like the training log's ``ts``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from udfs.config.experiments import epoch_ms

UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_HELP = "a number and a unit, e.g. 30m, 6h, 2d (units: s, m, h, d, w)"


def parse_duration(text: str) -> int:
    """``text`` (``90s``, ``30m``, ``6h``, ``1.5d``, ``2w``) in milliseconds; ValueError when it
    is not one, or not more than zero."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration: use {_HELP}")
    ms = int(round(float(m.group(1)) * UNITS_MS[m.group(2)]))
    if ms <= 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return ms


def parse_instant(text: str, now_ms: int) -> int:
    """Epoch ms of ``text``: a duration before ``now_ms``, or an ISO-8601 time (UTC unless it
    says otherwise)."""
    if _DURATION.match(str(text)):
        return now_ms - parse_duration(text)
    try:
        return epoch_ms(text, naive_utc=True)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration ({_HELP}) nor an ISO-8601 time "
                         f"such as 2026-12-03T06:00Z") from None


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    since_ms: int
    until_ms: int

    def contains(self, ts) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        return (ts >= self.since_ms) & (ts < self.until_ms)

    def to_dict(self) -> dict:
        return {"since": iso(self.since_ms), "until": iso(self.until_ms), "since_ms": self.since_ms,
                "until_ms": self.until_ms, "hours": round((self.until_ms - self.since_ms) / 3_600_000, 3)}


def window(since: str, until: str | None, now_ms: int) -> Window:
    """The window ``[since, until)`` (``until`` default: now); ValueError when it is empty."""
    lo = parse_instant(since, now_ms)
    hi = now_ms if until is None else parse_instant(until, now_ms)
    if lo >= hi:
        raise ValueError(f"empty window: --since {since} ({iso(lo)}) is not before "
                         f"--until {until or 'now'} ({iso(hi)})")
    return Window(lo, hi)
