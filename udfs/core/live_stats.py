"""What the scoring job knows of the feedback loop's ad statistics, and the budget view over them.

``LiveStats`` holds the latest read of the online store (``udfs.io.ad_stats_store``): the
creatives' CTR priors, the campaigns' observed CPA and today's spend. It is the scorer's
``AdStats`` (``udfs.core.scoring_env``): ``version`` moves only when a CTR prior or a CPA
changes, so the scorer rebuilds its ad columns then and not on every read. ``SpendBudget``
is its ``BudgetView``: the catalogue's ``daily_budget`` minus the campaign's spend today;
its ``cache_token`` moves with the spend, so the eligibility cache never serves a spent
campaign from an older answer.

Pure: the adapter reads the store and calls :meth:`LiveStats.update`.
"""
from __future__ import annotations

from typing import Callable, Mapping

from udfs.core.budget import utc_day
from udfs.core.catalog import Catalog


class LiveStats:
    def __init__(self) -> None:
        self.ctr: dict[str, float] = {}
        self.counts: dict[str, tuple[int, int]] = {}   # creative -> (impressions, clicks): exploration's
        self.cpas: dict[str, tuple[float | None, int]] = {}
        self.spend: dict[str, tuple[int, float]] = {}   # campaign -> (UTC day, spent that day)
        self.version = 0          # CTR priors and CPAs
        self.spend_version = 0

    def update(self, creatives: Mapping[str, Mapping], campaigns: Mapping[str, Mapping]) -> None:
        """Take a read of the store: {creative id: {ctr_prior}}, {campaign id: {cpa, cpa_conversions,
        spend_day, spend_today}}; a value the store lacks (None) is left out."""
        ctr = {c: float(v["ctr_prior"]) for c, v in creatives.items() if v.get("ctr_prior") is not None}
        self.counts = {c: (int(v.get("impressions_total") or 0), int(v.get("clicks_total") or 0))
                       for c, v in creatives.items()}
        cpas = {c: (float(v["cpa"]) if v.get("cpa_conversions") else None, int(v.get("cpa_conversions") or 0))
                for c, v in campaigns.items() if v.get("cpa") is not None}
        spend = {c: (int(v["spend_day"]), float(v["spend_today"])) for c, v in campaigns.items()
                 if v.get("spend_day") is not None and v.get("spend_today") is not None}
        if ctr != self.ctr or cpas != self.cpas:
            self.ctr, self.cpas = ctr, cpas
            self.version += 1
        if spend != self.spend:
            self.spend = spend
            self.spend_version += 1

    def ctr_prior(self, creative_id: str) -> float | None:
        return self.ctr.get(creative_id)

    def cpa(self, campaign_id: str) -> tuple[float | None, int]:
        return self.cpas.get(campaign_id, (None, 0))

    def impressions_clicks(self, creative_id: str) -> tuple[int, int]:
        return self.counts.get(creative_id, (0, 0))

    def spent(self, campaign_id: str, now_ms: int) -> float:
        day, amount = self.spend.get(campaign_id, (-1, 0.0))
        return amount if day == utc_day(now_ms) else 0.0


class SpendBudget:
    """``BudgetView``: daily budget minus what the feedback loop charged today.

    "Today" is the UTC day of ``clock_ms()`` — the clock the answers are stamped with — not of
    the request's ``ts``: spend is booked on the day of the charged events, and those are the
    ad server's times of showing (or clicking) an answer, i.e. the answer's time. The two
    agree in production; a replayed request from another day must not escape today's budget."""

    def __init__(self, catalog: Catalog, stats: LiveStats, clock_ms: Callable[[], int]) -> None:
        self.catalog, self.stats, self.clock_ms = catalog, stats, clock_ms

    def remaining(self, campaign_id: str, now_ms: int) -> float:
        c = self.catalog.campaign(campaign_id)
        if c is None:
            return 0.0
        return c.daily_budget - self.stats.spent(campaign_id, self.clock_ms())

    def cache_token(self, now_ms: int):
        return utc_day(self.clock_ms()), self.stats.spend_version
