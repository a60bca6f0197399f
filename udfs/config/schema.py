"""The configuration's schema: frozen, typed dataclasses, one per section of ``conf/base.yaml``.

Pure: no file, environment or YAML here (``udfs.config.loader`` builds these from them), so a
worker that receives a config as a dict (``from_dict``) needs nothing but this. Validation
that involves one section lives in its ``__post_init__`` and names the dotted key. Path
values arrive absolute (or as URIs): the loader resolves them once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from udfs.config.feedback import Feedback  # noqa: F401 - a section of Config, defined there
from udfs.config.synth import Generator, Site  # noqa: F401 - sections of Config, defined there
from udfs.errors import ConfigError


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = 1
    compacted: bool = False


@dataclass(frozen=True)
class Topics:
    clicks: Topic
    ad_requests: Topic
    ranked_ads: Topic
    served_log: Topic
    training_log: Topic
    impressions: Topic
    ad_clicks: Topic
    conversions: Topic
    dead_letter: Topic
    erasure: Topic
    catalog: Topic

    def all(self) -> list[Topic]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]


@dataclass(frozen=True)
class Kafka:
    host: str
    port: int
    controller_port: int
    heap_mb: int
    topics: Topics
    linger_ms: int = 0
    acks: str = "1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Redis:
    host: str
    port: int
    db: int = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Paths:
    work_dir: str
    jars_dir: str
    data_dir: str
    model_registry: str
    retrain_runs: str

    def resolve(self, name: str) -> Path:
        return Path(getattr(self, name))   # made absolute by the loader (PATH_KEYS)


@dataclass(frozen=True)
class Jars:
    kafka_dir: str
    flink_connector: str


@dataclass(frozen=True)
class Flink:
    parallelism: int
    checkpoint_interval_ms: int
    python_execution_mode: str
    bundle_size: int
    bundle_time_ms: int
    buffer_timeout_ms: int
    state_backend: str
    checkpoint_dir: str
    managed_memory_mb: int = 256
    # A task that keeps failing must stop, not restart from the same checkpoint forever.
    restart_strategy: str = "fixed-delay"   # fixed-delay | exponential-delay
    restart_attempts: int = 3               # restarts before the job is FAILED
    restart_delay_ms: int = 2000            # fixed delay; the first backoff when exponential
    restart_max_delay_ms: int = 30000       # exponential-delay: the longest backoff
    status_poll_ms: int = 1000              # how often the CLI asks the job for its status

    def __post_init__(self) -> None:
        if self.python_execution_mode not in ("thread", "process"):
            raise ConfigError("flink.python_execution_mode", "must be 'thread' or 'process'")
        if self.parallelism < 1:
            raise ConfigError("flink.parallelism", "must be >= 1")
        if self.restart_strategy not in ("fixed-delay", "exponential-delay"):
            raise ConfigError("flink.restart_strategy", "must be 'fixed-delay' or 'exponential-delay'")
        if self.restart_attempts < 0:
            raise ConfigError("flink.restart_attempts", "must be >= 0 (0: fail on the first error)")
        if self.restart_delay_ms < 0 or self.restart_max_delay_ms < self.restart_delay_ms:
            raise ConfigError("flink.restart_delay_ms", "need 0 <= restart_delay_ms <= restart_max_delay_ms")
        if self.status_poll_ms < 1:
            raise ConfigError("flink.status_poll_ms", "must be >= 1")


@dataclass(frozen=True)
class DeadLetters:
    """Dead letters on the topic (udfs/messages/dead_letter.py, docs/reliability.md)."""
    # Well under the broker's 1 MB message size: a letter that cannot be written stops the job.
    max_bytes: int = 65536

    def __post_init__(self) -> None:
        from udfs.messages.dead_letter import MIN_BYTES
        if self.max_bytes < MIN_BYTES:
            raise ConfigError("dead_letter.max_bytes", f"must be >= {MIN_BYTES}")


@dataclass(frozen=True)
class Logs:
    """Each job's own log files under ``<paths.work_dir>/<dir>/<job>/`` (docs/reliability.md)."""
    dir: str = "logs"
    level: str = "INFO"               # Python and JVM root level
    max_bytes: int = 10_485_760       # a file is rotated at this size ...
    backups: int = 5                  # ... keeping this many old ones
    status_lines: int = 20            # `adstream job status`: error lines shown per file

    def __post_init__(self) -> None:
        if self.level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("logs.level", "must be DEBUG, INFO, WARNING or ERROR")
        for name in ("max_bytes", "backups", "status_lines"):
            if getattr(self, name) < 1:
                raise ConfigError(f"logs.{name}", "must be >= 1")


@dataclass(frozen=True)
class Windows:
    """Sliding windows (seconds) over which behaviour counts are kept."""
    count_windows_s: tuple[int, ...]
    decay_half_life_s: int
    top_k_categories: int
    session_gap_s: int
    state_ttl_s: int


@dataclass(frozen=True)
class Profile:
    windows: Windows
    dedupe_horizon_s: int
    max_out_of_orderness_ms: int
    allowed_lateness_ms: int
    idle_timeout_ms: int
    batch_size: int
    batch_interval_ms: int
    writer: str = "redis"   # feast: Feast's write path | redis: same bytes, one pipeline
    state_cache_users: int = 200_000  # profiles cached in the Python worker in front of MapState
    repair_check_ms: int = 5_000      # how often each shard checks the online store still holds it
    redis_timeout_ms: int = 2_000     # socket timeout of the profile writer and the marker check
    write_retry_ms: int = 60_000      # an online write is retried this long before it fails the task

    def __post_init__(self) -> None:
        if self.writer not in ("feast", "redis"):
            raise ConfigError("profile.writer", "must be 'feast' or 'redis'")
        for name in ("repair_check_ms", "redis_timeout_ms", "write_retry_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"profile.{name}", "must be >= 1 (milliseconds)")


@dataclass(frozen=True)
class Feast:
    repo_dir: str
    project: str
    feature_service: str


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

    def __post_init__(self) -> None:
        if self.python_execution_mode not in ("thread", "process"):
            raise ConfigError("python_execution_mode", "must be 'thread' or 'process'")
        for name in ("bundle_size", "bundle_time_ms", "fetch_max_wait_ms", "profile_timeout_ms",
                     "breaker_failures", "model_poll_ms", "catalog_poll_ms", "onnx_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be >= 1")
        if self.buffer_timeout_ms < -1:
            raise ConfigError("buffer_timeout_ms", "must be >= -1 (-1: flush only full buffers)")
        if self.breaker_cooldown_ms < 0 or self.catalog_catchup_s < 0:
            raise ConfigError("breaker_cooldown_ms", "cool-down and catch-up must be >= 0")


@dataclass(frozen=True)
class Model:
    """CTR model training, export and registry (models/, docs/model.md)."""
    click_window_s: int = 1800            # a click is attributed to an impression this long after it
    conversion_window_s: int = 604800     # a conversion counts within 7 days of its impression
    prior_strength: float = 100.0         # ad_ctr_prior = (clicks + a*fallback_prior_ctr) / (imps + a)
    valid_fraction: float = 0.15          # time-ordered split: oldest train | valid | newest test
    test_fraction: float = 0.15
    cv_folds: int = 3                     # forward-chaining folds inside train for the search
    budget: int = 20                      # hyper-parameter search trials
    max_rounds: int = 400                 # boosting rounds before early stopping
    max_depth_sum: int = 450              # trees x max_depth cap (scoring latency); 0 = none
    early_stopping_rounds: int = 30
    nthread: int = 2
    seed: int = 7
    calibration: str = "auto"             # auto | none | platt | isotonic
    candidates: tuple[str, ...] = ("lr", "xgboost", "gbdt_lr")  # fitted; lowest validation log loss ships
    parity_tolerance: float = 1e-5        # max |training - onnxruntime| on the test set
    promote_auc_tolerance: float = 0.0    # refuse promotion when AUC < current - tolerance
    retrain_min_rows: int = 2000          # `model retrain`: fewer logged rows in the window -> skipped
    retrain_min_clicks: int = 50          # ... fewer clicks among them -> skipped
    retrain_ips_clip: float = 20.0        # largest inverse-propensity weight (rows with a propensity)

    def __post_init__(self) -> None:
        if self.calibration not in ("auto", "none", "platt", "isotonic"):
            raise ConfigError("model.calibration", "must be auto, none, platt or isotonic")
        bad = [c for c in self.candidates if c not in ("lr", "xgboost", "gbdt_lr")]
        if bad or not self.candidates:
            raise ConfigError("model.candidates", f"must be a non-empty list of lr, xgboost, gbdt_lr (got {bad})")
        if not (0 < self.valid_fraction < 1 and 0 < self.test_fraction < 1
                and self.valid_fraction + self.test_fraction < 1):
            raise ConfigError("model.valid_fraction", "valid and test fractions must be in (0, 1) "
                              "and leave rows for training")
        if self.retrain_ips_clip < 1.0:
            raise ConfigError("model.retrain_ips_clip", "must be >= 1 (a weight cap of 1/propensity)")
        for name in ("cv_folds", "budget", "max_rounds", "early_stopping_rounds", "nthread",
                     "retrain_min_rows", "retrain_min_clicks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}", "must be >= 1")


@dataclass(frozen=True)
class Messages:
    """Bounds the jobs hold an input's event time to (``udfs.messages.bounds.TimeBounds``)."""
    min_ts_ms: int = 946_684_800_000       # 2000-01-01T00:00:00Z: an earlier ts is invalid
    max_future_skew_ms: int = 300_000      # a ts further ahead of the job's clock is 'future'

    def __post_init__(self) -> None:
        if self.min_ts_ms < 0:
            raise ConfigError("messages.min_ts_ms", "must be >= 0")
        if self.max_future_skew_ms < 0:
            raise ConfigError("messages.max_future_skew_ms", "must be >= 0")


@dataclass(frozen=True)
class Config:
    env: str
    paths: Paths
    jars: Jars
    kafka: Kafka
    redis: Redis
    flink: Flink
    profile: Profile
    feast: Feast
    generator: Generator
    scoring: Scoring
    model: Model
    scoring_job: ScoringJob
    messages: Messages = dataclasses.field(default_factory=Messages)
    site: Site = Site()
    feedback: Feedback = Feedback()
    dead_letter: DeadLetters = DeadLetters()
    logs: Logs = Logs()

    def log_dir(self, job: str) -> Path:
        """Where one job's log files live (the JVM's, its Python workers', its stderr)."""
        return self.path("work_dir") / self.logs.dir / job

    def path(self, name: str) -> Path:
        return self.paths.resolve(name)

    def jar_path(self, name: str) -> Path:
        return Path(getattr(self.jars, name))
