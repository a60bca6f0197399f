"""The simulated clock: one agenda of timed work, taken in time order between requests.

Everything that is not a request happens at an instant on the day's clock: a feedback event
reaching the feedback job (its ``send_at_ms``), a join's timer (``RequestState.wake`` /
``ImpressionState.wake``), the scorer's statistics read (every ``simulation.stats_poll_s``,
as the job's ``scoring_job.stats_poll_ms``), a retraining (every ``simulation.retrain_every_h``)
and the new ads' launch. Before a request at ``ts`` is answered, everything due at or before
``ts`` is done, in time order; at one instant, in the order of ``KINDS`` (events before the
timers they may move, reads after both), then in the order it was scheduled. A periodic entry
schedules its next tick when it is taken, up to its end.

Pure: no clock of its own; the caller moves time.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Iterator

EVENT, TIMER, LAUNCH, POLL, RETRAIN = "event", "timer", "launch", "poll", "retrain"
KINDS = (EVENT, TIMER, LAUNCH, POLL, RETRAIN)
_RANK = {k: i for i, k in enumerate(KINDS)}


class Agenda:
    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, str, Any]] = []
        self._seq = itertools.count()
        self._every: dict[str, tuple[int, int]] = {}   # kind -> (period, last tick allowed)

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, ts_ms: int, kind: str, payload: Any = None) -> None:
        """Do ``kind`` (with ``payload``) at ``ts_ms``."""
        heapq.heappush(self._heap, (int(ts_ms), _RANK[kind], next(self._seq), kind, payload))

    def every(self, kind: str, first_ms: int, period_ms: int, until_ms: int) -> None:
        """Do ``kind`` at ``first_ms`` and every ``period_ms`` after, while the tick is ``<= until_ms``."""
        if period_ms <= 0:
            raise ValueError("a period must be longer than zero")
        self._every[kind] = (period_ms, until_ms)
        if first_ms <= until_ms:
            self.at(first_ms, kind, "tick")

    def due(self, now_ms: int) -> Iterator[tuple[int, str, Any]]:
        """(ts, kind, payload) of everything at or before ``now_ms``, in order; what a caller
        schedules while iterating is taken too when it is due by ``now_ms``."""
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            ts, _, _, kind, payload = heapq.heappop(heap)
            if payload == "tick" and kind in self._every:
                period, until = self._every[kind]
                if ts + period <= until:
                    self.at(ts + period, kind, "tick")
            yield ts, kind, payload

    def next_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None
