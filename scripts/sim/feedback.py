"""The feedback job's chain in one process, on the simulated clock.

The stages of ``udfs/flink/feedback.py``, each the core rule it wraps, called in the same
order: the served log ⨝ impressions (``udfs.core.pricing``: keyed by request id), the priced
impressions ⨝ clicks ⨝ conversions (``udfs.core.attribution``: keyed by impression id; it also
writes the training rows), and every attributed event folded into its campaign's statistics
(``udfs.core.ad_stats``). Flink keyed state becomes two dicts, the event-time timers entries on
the agenda (``scripts.sim.clock``) at each state's ``wake()``, the watermark the clock itself
(the site's events come in time order here: nothing is late).

What the Flink job writes to Redis is ``store``: each campaign's and changed creative's
``ad_stats.snapshot``, refreshed when the scorer reads (``refresh``), so a read sees every
event attributed so far (the job's ``feedback.write_interval_ms`` of 0.5 s is far below one
statistics poll of the simulation).

``LedgerBudget`` is the ledger's truth — each campaign's daily budget minus what it was really
charged today — which the oracle's eligibility uses, and which says what is billable: a charge
counts as revenue up to the campaign's daily budget, never beyond it.
"""
from __future__ import annotations

import copy
from collections import Counter
from typing import Callable

from udfs.core import ad_stats, attribution, pricing
from udfs.core.attributed import Attributed
from udfs.core.budget import utc_day
from udfs.core.catalog import Catalog
from udfs.messages import AdClick, Conversion, Impression, ServedLog

from scripts.sim.clock import TIMER, Agenda

REQUEST, IMPRESSION_KEY = "R", "I"


class Feedback:
    def __init__(self, cfg, agenda: Agenda, catalog: Catalog, history_stats: dict,
                 on_attributed: Callable[[Attributed, float], None] = lambda a, billable: None):
        self.pw, self.aw = pricing.Windows.from_config(cfg), attribution.Windows.from_config(cfg)
        self.params = ad_stats.StatsParams.from_config(cfg)
        self.agenda, self.catalog, self.on_attributed = agenda, catalog, on_attributed
        self.requests: dict[str, pricing.RequestState] = {}
        self.impressions: dict[str, attribution.ImpressionState] = {}
        self.stats: dict[str, ad_stats.CampaignStats] = copy.deepcopy(history_stats)
        self.store_creatives: dict[str, dict] = {}
        self.store_campaigns: dict[str, dict] = {}
        self.training: list = []          # TrainingRow, in the order written
        self.rejected: Counter = Counter()
        self.exhausted: set[tuple[str, int]] = set()   # (campaign, UTC day) charged up to its budget
        self._wakes: dict[tuple[str, str], int] = {}
        for st in self.stats.values():
            self._store(st, all_creatives=True)

    # ----------------------------------------------------------------- the two joins
    def served(self, log: ServedLog) -> None:
        st = self.requests.setdefault(log.request_id, pricing.RequestState())
        out = pricing.Outputs()
        pricing.on_served(st, log, log.to_json(), out, self.pw)
        self._handle(out)
        self._schedule(REQUEST, log.request_id, st.wake(self.pw))

    def event(self, message) -> None:
        """One of the site's events reaches the job."""
        out = pricing.Outputs()
        raw = message.to_json()
        if isinstance(message, Impression):
            key, kind = message.request_id, REQUEST
            st = self.requests.setdefault(key, pricing.RequestState())
            pricing.on_impression(st, message, raw, out, self.pw)
            wake = st.wake(self.pw)
        elif isinstance(message, (AdClick, Conversion)):
            key, kind = message.impression_id, IMPRESSION_KEY
            st = self.impressions.setdefault(key, attribution.ImpressionState())
            (attribution.on_click if isinstance(message, AdClick) else attribution.on_conversion)(
                st, message, raw, out, self.aw)
            wake = st.wake(self.aw)
        else:
            raise TypeError(f"not a feedback event: {type(message).__name__}")
        self._handle(out)
        self._schedule(kind, key, wake)

    def timer(self, key: tuple[str, str], now_ms: int) -> None:
        """An event-time timer: the state's ``expire`` at watermark ``now_ms``."""
        kind, k = key
        states, mod, w = ((self.requests, pricing, self.pw) if kind == REQUEST
                          else (self.impressions, attribution, self.aw))
        st = states.get(k)
        if st is None or self._wakes.get(key) != now_ms:
            return       # cleared, or moved: another entry is on the agenda
        del self._wakes[key]
        out = pricing.Outputs()
        done = mod.expire(st, now_ms, out, w)
        self._handle(out)
        if done:
            del states[k]
        else:
            self._schedule(kind, k, st.wake(w))

    def _schedule(self, kind: str, key: str, wake: int | None) -> None:
        if wake is not None and self._wakes.get((kind, key)) != wake:
            self._wakes[(kind, key)] = wake
            self.agenda.at(wake, TIMER, (kind, key))

    def _handle(self, out: pricing.Outputs) -> None:
        """A stage's outputs downstream: priced impressions to the second join, attributed events
        to the statistics, training rows to the log, rejects counted by kind."""
        for p in out.priced:
            st = self.impressions.setdefault(p.impression_id, attribution.ImpressionState())
            more = pricing.Outputs()
            attribution.on_priced(st, p, more, self.aw)
            self._handle(more)
            self._schedule(IMPRESSION_KEY, p.impression_id, st.wake(self.aw))
        for a in out.attributed:
            self._count(a)
        self.training += out.training
        for r in out.rejected:
            self.rejected[r.kind] += 1

    # ----------------------------------------------------------------- statistics and spend
    def _count(self, a: Attributed) -> None:
        st = self.stats.setdefault(a.campaign_id, ad_stats.CampaignStats())
        billable = 0.0
        if a.charge:
            day = utc_day(a.ts)
            before = st.spend_today if st.spend_day == day else 0.0
            budget = self._budget(a.campaign_id)
            billable = min(a.charge, max(0.0, budget - before))
            if before + a.charge >= budget:
                self.exhausted.add((a.campaign_id, day))
        ad_stats.apply(st, a, self.params)
        self.on_attributed(a, billable)

    def _budget(self, campaign_id: str) -> float:
        c = self.catalog.campaign(campaign_id)
        return c.daily_budget if c is not None else 0.0

    def spent_today(self, campaign_id: str, now_ms: int) -> float:
        st = self.stats.get(campaign_id)
        return st.spend_today if st is not None and st.spend_day == utc_day(now_ms) else 0.0

    def _store(self, st: ad_stats.CampaignStats, all_creatives: bool = False) -> None:
        camp, crs = ad_stats.snapshot(st, self.params, all_creatives=all_creatives)
        self.store_campaigns[st.campaign_id] = camp
        self.store_creatives.update(crs)

    def refresh(self) -> tuple[dict, dict]:
        """The online store as the scorer reads it now: every campaign's values, every creative's."""
        for st in self.stats.values():
            if st.dirty:
                self._store(st)
        return self.store_creatives, self.store_campaigns


class LedgerBudget:
    """``BudgetView`` over what campaigns were really charged today (the oracle's eligibility)."""

    def __init__(self, feedback: Feedback, catalog: Catalog):
        self.feedback, self.catalog = feedback, catalog

    def remaining(self, campaign_id: str, now_ms: int) -> float:
        c = self.catalog.campaign(campaign_id)
        return 0.0 if c is None else c.daily_budget - self.feedback.spent_today(campaign_id, now_ms)

    def cache_token(self, now_ms: int):
        # Eligibility changes only when a campaign runs out: the set of those is the token.
        return utc_day(now_ms), len(self.feedback.exhausted)
