"""Memoised candidate selection: ``targeting.eligible`` once per distinct situation, not per request.

Walking every campaign for every request is a fifth of the scoring step's CPU
with a 100-creative catalogue, yet most requests share their situation. The key
holds exactly what ``targeting.campaign_exclusion`` reads:

* the catalogue (object and ``version``, bumped on every change),
* effective geo (request geo, else the user's), device, age band, gender,
* the user's top categories *intersected with the categories any campaign targets*
  (the interest rule can only see that intersection), and likewise the user's search
  keywords intersected with the tokens of any campaign's keywords,
* the user's segment id when any campaign targets segments,
* the UTC hour (``schedule.hours``) and how many schedule boundaries
  (``start_ts``/``end_ts``) lie at or before now (the date-range rules),
* the budget view's ``cache_token(now)``; a view without one (or returning None)
  is asked on every request, so a budget that moves is never served stale.

If ``targeting`` grows a rule that reads anything else, this key must grow too;
``tests/unit/test_scoring_parts.py`` compares cached and direct selection on
random catalogues, requests and times.
"""
from __future__ import annotations

import bisect

from udfs.core.budget import CatalogBudget, BudgetView, utc_day
from udfs.core.catalog import Catalog
from udfs.messages.ad_request import RequestContext
from udfs.core.targeting import HOUR_MS, Selection, UserAttrs, eligible, keyword_tokens

MAX_ENTRIES = 4096


class StaticCatalogBudget(CatalogBudget):
    """``CatalogBudget`` that tells the cache when its answers can change: never within a UTC
    day while its ledger is empty (the scoring job's case until the feedback loop keeps spend)."""

    def cache_token(self, now_ms: int):
        return utc_day(now_ms) if not self.ledger.store else None


class EligibilityCache:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: dict[tuple, Selection] = {}
        self._catalog_key: tuple = ()
        self._interests: frozenset = frozenset()
        self._words: frozenset = frozenset()
        self._segments = False      # does any campaign target segments
        self._bounds: list[int] = []
        self.hits = self.misses = 0

    def _index(self, catalog: Catalog) -> None:
        key = (id(catalog), catalog.version)
        if key == self._catalog_key:
            return
        camps = catalog.campaigns()
        self._interests = frozenset(i for c in camps for i in c.targeting.interests)
        self._words = frozenset(t for c in camps for toks in keyword_tokens(c.targeting.keywords) for t in toks)
        self._segments = any(c.targeting.segments for c in camps)
        self._bounds = sorted({b for c in camps for b in (c.schedule.start_ts, c.schedule.end_ts)
                               if b is not None})
        self._entries.clear()
        self._catalog_key = key

    def select(self, catalog: Catalog, ctx: RequestContext, user: UserAttrs | None, now_ms: int,
               budget: BudgetView) -> Selection:
        token_of = getattr(budget, "cache_token", None)
        token = token_of(now_ms) if token_of is not None else None
        if token is None:
            return eligible(catalog, ctx, user, now_ms, budget)
        self._index(catalog)
        u = user or UserAttrs()
        key = (token, ctx.geo or u.geo or None, ctx.device or None, u.age_band, u.gender,
               self._interests.intersection(u.top_categories or ()) if self._interests else None,
               self._words.intersection(u.search_keywords or ()) if self._words else None,
               u.segment_id if self._segments else None,
               now_ms // HOUR_MS, bisect.bisect_right(self._bounds, now_ms))
        hit = self._entries.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        sel = self._entries[key] = eligible(catalog, ctx, user, now_ms, budget)
        return sel
