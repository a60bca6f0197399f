"""Bounding the feature store: a circuit breaker around profile reads.

Each read is already bounded by the Redis client's socket timeouts (set by the
adapter from ``scoring_job.profile_timeout_ms``). That alone is not enough: a
store that hangs would cost every request the full timeout, and throughput would
collapse to 1/timeout. After ``failures`` failed reads in a row the breaker opens
and requests skip the store for ``cooldown_ms`` — answered at once with a flagged
contextual ranking — then one trial read decides whether it closes.

Pure: the clock is passed in; exceptions are classified by name so no Redis import.
"""
from __future__ import annotations

from typing import Callable, Mapping

from udfs.core.scoring_env import PROFILE_ERROR, PROFILE_SKIPPED, PROFILE_TIMEOUT, ProfileUnavailable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_ms: float, clock_ms: Callable[[], float]):
        if failures < 1:
            raise ValueError("failures must be >= 1")
        self.limit, self.cooldown_ms, self.clock_ms = failures, cooldown_ms, clock_ms
        self.failures = 0
        self.opened_at: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        return OPEN if self.clock_ms() - self.opened_at < self.cooldown_ms else HALF_OPEN

    def allow(self) -> bool:
        """May a call go through now? (Half-open lets calls through until one succeeds or fails.)"""
        return self.state != OPEN

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.limit:
            # a failed trial in half-open re-opens for a full cool-down
            self.opened_at = self.clock_ms()
            self.times_opened += 1


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower()


class GuardedProfiles:
    """A ``ProfileSource`` that turns failures into ``ProfileUnavailable`` and feeds a breaker.

    Only failures count (a socket timeout, a refused connection, an error reply): a
    read that returned is not held against the store even if it was late, because
    with the socket timeout in place lateness comes from this process (CPU, GC), and
    counting it would open the breaker on a busy machine for nothing.
    """

    def __init__(self, read: Callable[[str], Mapping | None], breaker: CircuitBreaker,
                 log: Callable[[str], None] = lambda msg: None,
                 read_many: Callable[[list], list] | None = None):
        self._read, self.breaker, self.log = read, breaker, log
        self._read_many = read_many
        if read_many is None:   # then a batch is read user by user (RequestScorer.handle_batch)
            self.read_many = None

    def read(self, user_id: str) -> Mapping | None:
        return self._guarded(self._read, user_id)

    def read_many(self, user_ids: list) -> list:
        """Several users in one round trip: one breaker decision, and a failure is *one* failure
        (one read failed, however many users it carried) that every one of them shares."""
        return self._guarded(self._read_many, user_ids)

    def _guarded(self, read: Callable, arg):
        if not self.breaker.allow():
            raise ProfileUnavailable(PROFILE_SKIPPED)
        try:
            profile = read(arg)
        except Exception as e:
            opened = self.breaker.times_opened
            self.breaker.failure()
            detail = f"{type(e).__name__}: {e}"
            if self.breaker.times_opened > opened:
                self.log(f"feature store failing ({detail}): skipping it for "
                         f"{self.breaker.cooldown_ms:.0f} ms, contextual ranking meanwhile")
            raise ProfileUnavailable(PROFILE_TIMEOUT if _is_timeout(e) else PROFILE_ERROR, detail) from e
        if self.breaker.failures or self.breaker.opened_at is not None:
            self.breaker.success()
        return profile
