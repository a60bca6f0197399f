"""The scoring job's sections: the ranking rules (``scoring``: reserve, caps, review, pacing, oCPA, fallbacks) and the job's wiring and latency knobs (``scoring_job``).

Users: ``udfs/core/scoring*.py`` and the rules it calls, ``udfs/flink/scoring.py``,
``jobs/scoring.py``; the feedback job reads ``scoring``'s priors for its statistics.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from udfs.errors import ConfigError


@dataclass(frozen=True)
class CapRule:
    """At most ``limit`` impressions within the last ``window_s`` seconds."""
    window_s: int
    limit: int

    def __post_init__(self) -> None:
        if self.window_s < 1:
            raise ConfigError("window_s", "must be >= 1")
        if self.limit < 1:
            raise ConfigError("limit", "must be >= 1")

@dataclass(frozen=True)
class Pacing:
    """Budget pacing (udfs/core/pacing.py): probabilistic throttling along a daily curve."""
    enabled: bool = True
    curve: Any = "uniform"           # 'uniform' or 24 hourly (UTC) weights
    tolerance: float = 0.02          # of the daily budget: the band where the rate stays
    step: float = 0.2                # relative rate change per statistics read
    min_rate: float = 0.01           # the least share of requests a throttled campaign takes part in

    def __post_init__(self) -> None:
        if not (self.curve == "uniform" or (isinstance(self.curve, (list, tuple)) and len(self.curve) == 24
                                            and all(isinstance(w, (int, float)) and w >= 0 for w in self.curve)
                                            and sum(self.curve) > 0)):
            raise ConfigError("scoring.pacing.curve", "must be 'uniform' or 24 non-negative hourly weights")
        if not (0 <= self.tolerance and 0 <= self.step < 1 and 0 < self.min_rate <= 1):
            raise ConfigError("scoring.pacing", "tolerance >= 0, 0 <= step < 1, 0 < min_rate <= 1")

@dataclass(frozen=True)
class ReviewPolicy:
    """Automated creative review (udfs/core/review.py)."""
    title_min_len: int
    title_max_len: int
    blocked_terms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.title_min_len <= self.title_max_len:
            raise ConfigError("title_min_len", "must be >= 1 and <= title_max_len")

@dataclass(frozen=True)
class Scoring:
    """Candidate selection, frequency caps and the auction (docs/ranking.md)."""
    default_pcvr: float
    reserve_ecpm: float
    max_ads_per_advertiser: int
    campaign_caps: tuple[CapRule, ...]
    creative_caps: tuple[CapRule, ...]
    review: ReviewPolicy
    pacing: Pacing = Pacing()
    slot_reserve_ecpm: Mapping[str, float] = dataclasses.field(default_factory=dict)
    ocpa_min_conversions: int = 20
    ocpa_min_factor: float = 0.5
    ocpa_max_factor: float = 1.5
    fallback_prior_ctr: float = 0.01
    fallback_context_boost: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.default_pcvr <= 1.0:
            raise ConfigError("default_pcvr", "must be within [0, 1]")
        if self.reserve_ecpm < 0:
            raise ConfigError("reserve_ecpm", "must be >= 0")
        for slot, v in self.slot_reserve_ecpm.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"slot_reserve_ecpm.{slot}", f"must be a number >= 0, got {v!r}")
        if self.max_ads_per_advertiser < 1:
            raise ConfigError("max_ads_per_advertiser", "must be >= 1")
        if not 0 < self.ocpa_min_factor <= 1.0 <= self.ocpa_max_factor:
            raise ConfigError("ocpa_min_factor", "need 0 < ocpa_min_factor <= 1 <= ocpa_max_factor")
        if self.ocpa_min_conversions < 1:
            raise ConfigError("ocpa_min_conversions", "must be >= 1")
        if not 0.0 <= self.fallback_prior_ctr <= 1.0:
            raise ConfigError("fallback_prior_ctr", "must be within [0, 1]")
        if self.fallback_context_boost < 1.0:
            raise ConfigError("fallback_context_boost", "must be >= 1")

    def reserve_for(self, slot: str) -> float:
        """Reserve eCPM of ``slot``: its own entry, else the global ``reserve_ecpm``."""
        return float(self.slot_reserve_ecpm.get(slot, self.reserve_ecpm))

@dataclass(frozen=True)
class ScoringJob:
    """The scoring job's wiring, bounds and latency knobs (docs/scoring-job.md).

    Its own Flink latency settings, because a request/response job wants tiny
    bundles and buffer timeouts where the profile job wants throughput.
    """
    catalog_file: str = ""             # initial catalogue (udfs.core.catalog JSON); "" = the topic alone
    group_id: str = "adstream-scoring"
    variant: str = "control"           # experiment variant written into every response
    python_execution_mode: str = "thread"
    bundle_size: int = 1
    bundle_time_ms: int = 1
    buffer_timeout_ms: int = 0         # 0 = flush every record (lowest latency)
    fetch_max_wait_ms: int = 100       # request source: longest a broker holds an empty fetch
    profile_timeout_ms: int = 20       # Redis socket timeout for one profile read
    breaker_failures: int = 3          # consecutive feature-store failures that open the breaker
    breaker_cooldown_ms: int = 2000    # how long an open breaker skips the feature store
    model_poll_ms: int = 500           # how often the registry pointer is checked
    catalog_poll_ms: int = 200         # how often catalogue changes are fetched
    catalog_catchup_s: float = 30.0    # at start, read the catalogue topic to its end for this long at most
    onnx_threads: int = 1
    stats_poll_ms: int = 500           # the feedback loop's ad statistics and spend are read this often
    stats_timeout_ms: int = 50         # socket timeout of that read (between requests, not in one)
    caps_reconcile_ms: int = 10000     # caps count own answers this recent, stored impressions before (udfs.core.seen)
    experiments_file: str = ""         # A/B tests (udfs/config/experiments.py); "" = none; re-read when it changes
    experiments_poll_ms: int = 1000    # how often that file is checked for a change

    def __post_init__(self) -> None:
        if self.python_execution_mode not in ("thread", "process"):
            raise ConfigError("python_execution_mode", "must be 'thread' or 'process'")
        for name in ("bundle_size", "bundle_time_ms", "fetch_max_wait_ms", "profile_timeout_ms",
                     "breaker_failures", "model_poll_ms", "catalog_poll_ms", "onnx_threads",
                     "experiments_poll_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be >= 1")
        if self.buffer_timeout_ms < -1:
            raise ConfigError("buffer_timeout_ms", "must be >= -1 (-1: flush only full buffers)")
        if self.breaker_cooldown_ms < 0 or self.catalog_catchup_s < 0:
            raise ConfigError("breaker_cooldown_ms", "cool-down and catch-up must be >= 0")
