"""The feedback job's section of the configuration (``feedback:`` in conf/base.yaml).

Kept apart from ``schema`` (which imports it into :class:`~udfs.config.schema.Config`)
because only the feedback job and the readers of its statistics use it; a pure dataclass
like every section. The attribution windows of clicks and conversions are ``model``'s
(``model.click_window_s``, ``model.conversion_window_s``): training labels and online
attribution must use one rule, so they have one owner.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError


@dataclass(frozen=True)
class Feedback:
    group_id: str = "adstream-feedback"
    impression_window_s: int = 600       # an impression counts if shown within this long after its answer
    join_wait_s: int = 60                # an impression (click) waits this long for its answer (impression)
    max_out_of_orderness_ms: int = 2000  # watermark = the latest event time seen minus this
    allowed_lateness_ms: int = 60000     # an event further behind the watermark is a dead letter 'late'
    stats_windows_s: tuple[int, ...] = (3600, 86400, 604800)   # sliding windows of the ad statistics
    stats_buckets: int = 60              # buckets per window: a window's edge is exact to window/buckets
    write_interval_ms: int = 500         # statistics are written to the online store at most this often
    redis_timeout_ms: int = 2000         # socket timeout of the job's online writes (a paused Redis)
    write_retry_ms: int = 60000          # an online write is retried this long before it fails the task
    seen_shards: int = 32                # users are spread over this many keys of the seen stage (fixed: see docs)
    seen_slice_ms: int = 200             # the seen stage folds and writes each shard's impressions once a slice
    training_log: str = ""               # parquet store of the training log: a path (absolute) or a URI
    training_log_group: str = "adstream-training-log"

    @property
    def training_log_uri(self) -> str:
        """``training_log`` as a URI (pyarrow's filesystems, Feast's FileSource)."""
        from pathlib import Path
        v = self.training_log
        if not v:
            raise ConfigError("feedback.training_log", "must name a path or URI (conf/base.yaml)")
        return v if "://" in v else Path(v).as_uri()

    def __post_init__(self) -> None:
        for name in ("impression_window_s", "join_wait_s", "stats_buckets", "write_interval_ms",
                     "redis_timeout_ms", "write_retry_ms", "seen_shards",
                     "seen_slice_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"feedback.{name}", "must be >= 1")
        for name in ("max_out_of_orderness_ms", "allowed_lateness_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"feedback.{name}", "must be >= 0")
        if not self.stats_windows_s or any(w < 1 for w in self.stats_windows_s):
            raise ConfigError("feedback.stats_windows_s", "must be a non-empty list of seconds >= 1")
        if list(self.stats_windows_s) != sorted(set(self.stats_windows_s)):
            raise ConfigError("feedback.stats_windows_s", "must be increasing, without repeats")
