"""The profile job's sections: its windows and batching (``profile``) and the Feast repository it writes through (``feast``).

Users: ``udfs/flink/profile.py`` and ``udfs/core/profile*.py``; ``feast`` also by the Feast
repo (``features/``), the scorer's profile read and training, which read the same features.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError


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
    keyword_map: str = ""             # the search keyword → category map (JSON); "": no search intent
    # Virtual shards the state is keyed by; changing it orphans every user's state (docs/profile-job.md).
    shards: int = 32

    def __post_init__(self) -> None:
        if self.writer not in ("feast", "redis"):
            raise ConfigError("profile.writer", "must be 'feast' or 'redis'")
        for name in ("repair_check_ms", "redis_timeout_ms", "write_retry_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"profile.{name}", "must be >= 1 (milliseconds)")
        if self.shards < 1:
            raise ConfigError("profile.shards", "must be >= 1")

@dataclass(frozen=True)
class Feast:
    repo_dir: str
    project: str
    feature_service: str
    attributes_ttl_s: int = 31_536_000   # the user_attributes view's ttl (Feast's point-in-time joins)

    def __post_init__(self) -> None:
        if self.attributes_ttl_s < 1:
            raise ConfigError("feast.attributes_ttl_s", "must be >= 1 (seconds)")
