"""Frequency caps per user x campaign and per user x creative, over sliding windows.

Pure: the state is a mutable mapping passed in on every call (a dict in tests, a
keyed/map state in a stream job) and the clock is always an argument. A state entry
is ``key -> list of impression timestamps`` (epoch ms, ascending); values are
always replaced, never mutated in place, so a state backend sees every write.

A rule ``CapRule(window_s, limit)`` allows an impression when fewer than ``limit``
impressions fall in ``(now - window, now]``. An entry keeps only timestamps within
its longest window and at most the largest limit of its rules (the most recent),
which is enough to decide every rule. An anonymous request (no user id) is never
capped.
"""
from __future__ import annotations

import bisect
from typing import Iterable, MutableMapping, Sequence

from udfs.core.catalog import Creative
from udfs.config import CapRule, Scoring

State = MutableMapping[str, list]
CAMPAIGN = "campaign"
CREATIVE = "creative"


def state_key(kind: str, user_id: str, entity_id: str) -> str:
    """``"<kind>|<user_id>|<id>"``, kind being 'campaign' or 'creative'."""
    return f"{kind}|{user_id}|{entity_id}"


class FrequencyCaps:
    def __init__(self, campaign_caps: Sequence[CapRule] = (),
                 creative_caps: Sequence[CapRule] = ()) -> None:
        self.rules: dict[str, tuple[CapRule, ...]] = {CAMPAIGN: tuple(campaign_caps),
                                                      CREATIVE: tuple(creative_caps)}
        # What an entry keeps, per kind: (longest window in ms, largest limit). Worked out
        # once, not on every write (it was a tenth of the scoring step's CPU).
        self._keep: dict[str, tuple[int, int]] = {
            kind: (max(r.window_s for r in rules) * 1000, max(r.limit for r in rules))
            for kind, rules in self.rules.items() if rules}

    @classmethod
    def from_config(cls, scoring: Scoring) -> "FrequencyCaps":
        return cls(scoring.campaign_caps, scoring.creative_caps)

    def _keys(self, user_id: str, creative: Creative) -> list[tuple[str, str]]:
        return [(kind, state_key(kind, user_id, eid))
                for kind, eid in ((CAMPAIGN, creative.campaign_id), (CREATIVE, creative.creative_id))
                if self.rules[kind]]

    def blocking(self, state: State, user_id: str | None, creative: Creative,
                 now_ms: int) -> str | None:
        """The rule that forbids another impression now, e.g. ``'campaign 5/3600s'``, or None."""
        if not user_id:
            return None
        for kind, key in self._keys(user_id, creative):
            stamps = state.get(key) or ()
            for rule in self.rules[kind]:
                since = now_ms - rule.window_s * 1000
                # timestamps are ascending: those after `since` are the tail
                n = len(stamps) - bisect.bisect_right(stamps, since)
                if n >= rule.limit:
                    return f"{kind} {rule.limit}/{rule.window_s}s"
        return None

    def allowed(self, state: State, user_id: str | None, creative: Creative, now_ms: int) -> bool:
        return self.blocking(state, user_id, creative, now_ms) is None

    def record(self, state: State, user_id: str | None, creative: Creative, now_ms: int) -> None:
        """Count one impression of ``creative`` for ``user_id`` at ``now_ms``."""
        if not user_id:
            return
        for kind, key in self._keys(user_id, creative):
            stamps = list(state.get(key) or ())
            bisect.insort(stamps, now_ms)
            state[key] = self._trim(kind, stamps, now_ms)

    def _trim(self, kind: str, stamps: list, now_ms: int) -> list:
        window_ms, limit = self._keep[kind]
        stamps = stamps[bisect.bisect_right(stamps, now_ms - window_ms):]
        return stamps[-limit:]

    def prune(self, state: State, now_ms: int) -> int:
        """Drop expired timestamps from every entry (and empty entries); returns entries removed."""
        removed = 0
        for key in list(state.keys()):
            kind = key.split("|", 1)[0]
            if kind not in self.rules:
                continue
            stamps = self._trim(kind, list(state[key]), now_ms) if self.rules[kind] else []
            if stamps:
                if len(stamps) != len(state[key]):
                    state[key] = stamps
            else:
                del state[key]
                removed += 1
        return removed

    def filter(self, state: State, user_id: str | None, creatives: Iterable[Creative],
               now_ms: int) -> tuple[list[Creative], int]:
        """The creatives still allowed, and how many were capped."""
        kept, capped = [], 0
        for c in creatives:
            if self.allowed(state, user_id, c, now_ms):
                kept.append(c)
            else:
                capped += 1
        return kept, capped
