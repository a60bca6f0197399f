"""The scoring job's side of one run: the catalogue, the scorer and what it is given per request.

``udfs/flink/scoring.py`` without Flink: a ``CatalogKeeper`` loaded from the catalogue file and
fed change records (the new ads' launch), the ``RequestScorer`` with ``Deps`` built per request
— caps over each user's own state (``DictCaps``: what the job itself answered), the profile row
the world computed for this request, the current model, the ``LiveStats`` of the last
statistics read and the ``SpendBudget`` over it, the ``Pacer`` (the loop only). The scorer's
wall clock is the simulated clock, so answers, spend days and pacing all read simulated time.

The two runs differ only in what this is given (``Server.loop`` / ``Server.frozen``): the loop
explores (``simulation.explore_rate``), paces, and has its statistics read every
``simulation.stats_poll_s``; the frozen run neither explores nor paces and keeps the statistics
of the first read (the logged days') all day, so it never learns of today's spend.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from udfs.core.caps import FrequencyCaps
from udfs.core.featurize import Featurizer
from udfs.core.live_stats import LiveStats, SpendBudget
from udfs.core.pacing import Pacer, PacingParams
from udfs.core.scoring import Deps, DictCaps, Outcome, RequestScorer
from udfs.io.catalog_feed import CatalogKeeper
from udfs.messages import AdRequest


class RowProfiles:
    """``ProfileSource`` answering with the row set for the request being scored."""

    def __init__(self) -> None:
        self.row: Mapping | None = None

    def read(self, user_id: str) -> Mapping | None:
        return self.row


class Server:
    def __init__(self, cfg, name: str, catalog_file, model, *, explore_rate: float, pacing: bool,
                 live: bool, clock_ms: Callable[[], int]):
        scoring = dataclasses.replace(
            cfg.scoring, exploration=dataclasses.replace(cfg.scoring.exploration, rate=explore_rate),
            pacing=dataclasses.replace(cfg.scoring.pacing, enabled=pacing))
        self.name, self.scoring, self.clock_ms = name, scoring, clock_ms
        self.live = live      # reads the statistics every simulation.stats_poll_s (else: the first read only)
        self.keeper = CatalogKeeper(cfg.scoring.review, cfg.kafka.topics.catalog.name, wall_ms=clock_ms)
        self.keeper.load_file(catalog_file)
        self.stats = LiveStats()
        self.budget = SpendBudget(self.keeper.catalog, self.stats, clock_ms)
        self.pacer = Pacer(PacingParams.from_config(scoring.pacing)) if pacing else None
        self.caps = FrequencyCaps.from_config(scoring)
        self.caps_state: dict[str, dict] = {}
        self.profiles = RowProfiles()
        self.model = model
        self.scorer = RequestScorer(scoring, Featurizer(cfg.profile.windows.count_windows_s),
                                    source_topic=cfg.kafka.topics.ad_requests.name, variant=name,
                                    profile_ttl_ms=cfg.profile.windows.state_ttl_s * 1000, wall_ms=clock_ms)

    @classmethod
    def loop(cls, cfg, catalog_file, model, clock_ms) -> "Server":
        return cls(cfg, "loop", catalog_file, model, explore_rate=cfg.simulation.explore_rate, pacing=True,
                   live=True, clock_ms=clock_ms)

    @classmethod
    def frozen(cls, cfg, catalog_file, model, clock_ms) -> "Server":
        return cls(cfg, "frozen", catalog_file, model, explore_rate=0.0, pacing=False, live=False,
                   clock_ms=clock_ms)

    @property
    def catalog(self):
        return self.keeper.catalog

    def answer(self, request: AdRequest, profile: Mapping | None) -> Outcome:
        self.profiles.row = profile
        state = self.caps_state.setdefault(request.user_id, {}) if request.user_id else {}
        deps = Deps(self.catalog, self.budget, DictCaps(self.caps, state), self.profiles, self.model,
                    stats=self.stats, pacing=self.pacer)
        return self.scorer.handle(request.encode(), deps)

    def candidates(self, request: AdRequest, profile: Mapping | None) -> list:
        """The creatives the scorer will rank for ``request`` — its own step before the auction
        (``RequestScorer.candidates``: eligibility with its budget view, its pacer, the user's
        caps) — asked before it answers (its caps then count the answer)."""
        sc = self.scorer
        if profile is not None and sc.expired(profile, request.ts):
            profile = None
        state = dict(self.caps_state.get(request.user_id, {})) if request.user_id else {}
        deps = Deps(self.catalog, self.budget, DictCaps(self.caps, state), self.profiles, self.model,
                    stats=self.stats, pacing=self.pacer)
        return sc.candidates(request, profile, deps, sc.arm(request, deps), request.user_id)[0]

    def read_stats(self, creatives: Mapping, campaigns: Mapping) -> list[str]:
        """A statistics read (``ScoringFunction._read_stats``): the values, then the pacer's rates.
        Returns the campaigns this read shows spent out (the budget stops them from now on)."""
        self.stats.update(creatives, campaigns)
        now = self.clock_ms()
        camps = self.catalog.campaigns()
        if self.pacer is not None:
            self.pacer.update([(c.campaign_id, c.daily_budget, self.stats.spent(c.campaign_id, now))
                               for c in camps], now)
        return [c.campaign_id for c in camps if self.budget.remaining(c.campaign_id, now) <= 0]

    def launch(self, records) -> int:
        """Apply catalogue change records; returns how many were refused (each logged by the keeper)."""
        refused = sum(self.keeper.apply(k, v) is not None for k, v in records)
        return refused
