"""Retention rules, pure: how long each online hash lives, which training-log hours are past
their retention (docs/privacy.md, "Retention").

The online TTLs follow the jobs' state TTLs, so Redis forgets a user when Flink does: the user's
hash (profile and caps share it) lives as long as the longer of the profile state's TTL and the
caps state's (the longest cap window); an ad's or campaign's statistics as long as their Feast
views say (twice the longest statistics window). Each write sets the TTL again, so an active
user's hash never expires and an idle one is gone one TTL after its last write.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable


def user_ttl_s(cfg) -> int:
    """Seconds the user's online hash lives after its last write."""
    caps = [r.window_s for r in (*cfg.scoring.campaign_caps, *cfg.scoring.creative_caps)]
    return max([cfg.profile.windows.state_ttl_s, *caps])


def stats_ttl_s(cfg) -> int:
    """Seconds an ad's or campaign's statistics hash lives after its last write (features/ad_stats.py)."""
    return max(cfg.feedback.stats_windows_s) * 2


def expired_hours(hours: Iterable[str], now_ms: int, keep_days: int) -> list[str]:
    """The training-log partitions (``YYYYMMDDHH``, UTC) wholly older than ``keep_days`` before
    ``now_ms``: an hour goes once its end has passed the cutoff. A value that is not an hour is
    never returned (the purge leaves what it does not understand)."""
    cutoff_s = now_ms / 1000 - keep_days * 86400
    out = []
    for h in hours:
        try:
            start = datetime.strptime(h, "%Y%m%d%H").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
        if len(h) == 10 and start + 3600 <= cutoff_s:
            out.append(h)
    return sorted(out)
