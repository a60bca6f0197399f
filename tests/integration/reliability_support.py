"""Test-only steps that fail on purpose, at the adapters' seams (docs/reliability.md).

Importable by the job's Python workers (the repository is on their path), so the
job runs the real adapter with one step that raises for a marked record.
"""
from __future__ import annotations

from udfs.core import profile as P
from udfs.flink.profile import ProfileFunction
from udfs.flink.scoring import ScoringFunction

POISON = "poison-"


class PoisonError(RuntimeError):
    """Raised on purpose inside a step, for a record carrying the POISON marker."""


class FailingScoring(ScoringFunction):
    def handle(self, value, deps):
        if POISON in value:
            raise PoisonError("deliberate failure inside the scoring step")
        return super().handle(value, deps)


def _failing_fold(state, ev, params):
    if (ev.category_id or "").startswith(POISON):
        state.ts.append(ev.ts)   # half-applied, then raise: the stored state must not see it
        raise PoisonError("deliberate failure inside the profile fold")
    P.apply(state, ev, params)


class FailingProfile(ProfileFunction):
    fold = staticmethod(_failing_fold)
