"""The synthetic world's sections of the configuration: the generator, the simulated site, the simulated day.

Kept apart from ``schema`` (which imports them into :class:`~udfs.config.schema.Config`)
because only ``scripts/synth`` and ``scripts/sim`` read them; pure dataclasses like every section.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError


@dataclass(frozen=True)
class Generator:
    seed: int
    users: int
    items: int
    categories: int
    brands: int
    advertisers: int
    campaigns: int
    events: int
    requests: int
    start_ts_ms: int
    days: int = 7                      # simulated days of traffic from start_ts_ms
    creatives_per_campaign: int = 3    # each campaign gets 1..N creatives
    # Shares of users whose events and requests carry an explicit "no" for a purpose (the rest
    # carry "yes"): the world exercises the consent rules, and every record has its flags.
    no_personalisation_share: float = 0.05
    no_measurement_share: float = 0.05

    def __post_init__(self) -> None:
        for name in ("users", "items", "categories", "brands", "advertisers", "campaigns",
                     "days", "creatives_per_campaign"):
            if getattr(self, name) < 1:
                raise ConfigError(f"generator.{name}", "must be >= 1")
        for name in ("no_personalisation_share", "no_measurement_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"generator.{name}", "must be in [0, 1]")
        if self.events < 0 or self.requests < 0:
            raise ConfigError("generator.events" if self.events < 0 else "generator.requests",
                              "must be >= 0")


@dataclass(frozen=True)
class Site:
    """The ad server's side, simulated (``scripts/synth/site.py``, ``adstream site``; docs/generator.md).

    Delays are event time: a click ``click_delay_*`` after its impression, a conversion
    ``conversion_delay_*`` after its click (log-normal with that median and sigma, cut at the
    max), then divided by ``time_compression``, as the replay clock compresses a day. The
    shares are probabilities per event (``orphan_share``: per click).
    """
    seed: int = 11
    time_compression: float = 60.0      # 60: an hour of event time passes in a minute
    click_delay_median_s: float = 20.0
    click_delay_sigma: float = 1.0
    click_delay_max_s: float = 900.0
    conversion_delay_median_s: float = 1800.0
    conversion_delay_sigma: float = 1.2
    conversion_delay_max_s: float = 21600.0
    duplicate_share: float = 0.01       # an event sent twice with the same id ...
    duplicate_gap_s: float = 2.0        # ... the copy up to this long after the first
    late_share: float = 0.01            # an event sent late_by_s after its ts (not compressed) ...
    late_by_s: float = 120.0            # ... past the jobs' allowed lateness (profile: 60 s)
    orphan_share: float = 0.02          # a click whose impression is never sent
    group_id: str = "adstream-site"     # consumer group on ad-requests.v1 + ranked-ads.v1
    join_wait_s: float = 30.0           # a request or an answer waits this long for the other
    max_waiting: int = 100000           # requests + answers held for the join at most

    def __post_init__(self) -> None:
        for name in ("duplicate_share", "late_share", "orphan_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"site.{name}", "must be within [0, 1]")
        for name in ("time_compression", "click_delay_median_s", "conversion_delay_median_s",
                     "join_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"site.{name}", "must be > 0")
        for name in ("click_delay_sigma", "conversion_delay_sigma", "duplicate_gap_s", "late_by_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"site.{name}", "must be >= 0")
        if self.click_delay_max_s < 1 or self.conversion_delay_max_s < 1:
            raise ConfigError("site.click_delay_max_s", "the delay caps must be >= 1 s")
        if self.max_waiting < 1:
            raise ConfigError("site.max_waiting", "must be >= 1")


@dataclass(frozen=True)
class Simulation:
    """``adstream simulate day`` (``scripts/sim/``; docs/loop.md): a simulated day run twice on one
    synthetic world, the full loop and frozen. Times are on the simulated clock.

    ``users``, ``requests_per_hour`` and ``hours`` are the command's defaults (its options
    override them); the rest shape the runs.
    """
    users: int = 4000                   # users of the world
    requests_per_hour: int = 2000       # ad requests per simulated hour, on average (diurnal shape)
    hours: int = 24                     # simulated hours of the day
    events_per_user_day: float = 10.0   # clickstream events per user and day
    history_days: int = 1               # days of uniformly logged traffic before the day: the first model's data
    budget_scale: float = 0.02          # x every daily budget, so budgets bind at this traffic
    explore_rate: float = 0.1           # the loop's scoring.exploration.rate (frozen: 0)
    stats_poll_s: int = 300             # the loop reads ad statistics and spend (and paces) this often
    retrain_every_h: int = 6            # the loop retrains from its own training log this often
    new_ads: int = 4                    # creatives launched partway through the day, no history ...
    new_ads_hour: int = 6               # ... at this hour of the day ...
    new_ads_quality: float = 0.6        # ... with this latent quality (the world's: mean 0, sd 0.5)
    discovery_impressions: int = 50     # a new creative is discovered at this many impressions
    train_budget: int = 2               # hyper-parameter trials of each training (model.budget)
    train_rounds: int = 120             # boosting rounds at most (model.max_rounds)
    bootstrap: int = 1000               # resamples of the lift intervals
    confidence: float = 0.95            # two-sided level of the lift intervals

    def __post_init__(self) -> None:
        for name in ("users", "requests_per_hour", "hours", "history_days", "stats_poll_s",
                     "retrain_every_h", "discovery_impressions", "train_budget", "train_rounds", "bootstrap"):
            if getattr(self, name) < 1:
                raise ConfigError(f"simulation.{name}", "must be >= 1")
        if self.hours > 24:
            raise ConfigError("simulation.hours", "one day: at most 24")
        if not 0 <= self.new_ads_hour < 24 or self.new_ads < 0:
            raise ConfigError("simulation.new_ads_hour", "must be within [0, 24); new_ads >= 0")
        if not 0.0 <= self.explore_rate <= 1.0:
            raise ConfigError("simulation.explore_rate", "must be within [0, 1]")
        if not 0.5 < self.confidence < 1.0:
            raise ConfigError("simulation.confidence", "must be within (0.5, 1)")
        if not self.budget_scale > 0 or not self.events_per_user_day > 0:
            raise ConfigError("simulation.budget_scale", "budget_scale and events_per_user_day must be > 0")
