"""Live ad statistics in the online store: the feedback job writes them, the scoring job reads them.

Feast's Redis layout (``udfs.io.feast_values``): one hash per creative (``ad_stats``) and per
campaign (``campaign_stats``), the views' fields and their ``_ts``, so Feast's
``get_online_features`` reads what is written here (tests/integration/test_ad_stats.py).
Writes are absolute values (a replay after a restart rewrites the same bytes); the scorer's
read is every live creative and campaign in one pipelined round trip, between requests.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from udfs.config import Config
from udfs.core.features import (AD_STATS_VIEW, CAMPAIGN_KEY, CAMPAIGN_STATS_VIEW, CREATIVE_KEY,
                                ad_stats_features, campaign_stats_features)
from udfs.io.feast_values import ENCODERS, decode, field_name, redis_key


def _timestamp(ts_ms: int) -> bytes:
    from google.protobuf.timestamp_pb2 import Timestamp
    return Timestamp(seconds=ts_ms // 1000, nanos=(ts_ms % 1000) * 1_000_000).SerializeToString()


def _redis(cfg: Config, timeout_ms: int):
    import redis
    t = timeout_ms / 1000   # a paused Redis raises, never hangs the caller
    return redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                       socket_timeout=t, socket_connect_timeout=t)


class AdStatsWriter:
    def __init__(self, cfg: Config):
        self.project = cfg.feast.project
        w = cfg.feedback.stats_windows_s
        self.views = {AD_STATS_VIEW: (CREATIVE_KEY, [(f.name, f.dtype, field_name(AD_STATS_VIEW, f.name))
                                                     for f in ad_stats_features(w)]),
                      CAMPAIGN_STATS_VIEW: (CAMPAIGN_KEY, [(f.name, f.dtype, field_name(CAMPAIGN_STATS_VIEW, f.name))
                                                           for f in campaign_stats_features(w)])}
        self.client = _redis(cfg, cfg.feedback.redis_timeout_ms)
        from udfs.core.retention import stats_ttl_s
        self.ttl_s = stats_ttl_s(cfg)   # statistics nobody updates expire as their Feast views do

    def write(self, campaigns: Mapping[str, Mapping], creatives: Mapping[str, Mapping], ts_ms: int) -> int:
        """Each entity's values (``udfs.core.ad_stats.snapshot``), as of ``ts_ms``; one pipeline."""
        ts = _timestamp(ts_ms)
        n = 0
        with self.client.pipeline(transaction=False) as pipe:
            for view, rows in ((CAMPAIGN_STATS_VIEW, campaigns), (AD_STATS_VIEW, creatives)):
                key_name, feats = self.views[view]
                for entity_id, values in rows.items():
                    mapping = {f: ENCODERS[dtype](values[name]) for name, dtype, f in feats}
                    mapping[f"_ts:{view}".encode()] = ts
                    key = redis_key(self.project, key_name, entity_id)
                    pipe.hset(key, mapping=mapping)
                    pipe.expire(key, self.ttl_s)
                    n += 1
            if n:
                pipe.execute()
        return n

    def close(self) -> None:
        self.client.close()


# What the scorer reads: the CTR prior and the counts exploration updates its posterior with,
# the oCPA inputs, and the campaign's spend today.
_CREATIVE_READ = ("ctr_prior", "impressions_total", "clicks_total")
_CAMPAIGN_READ = ("cpa", "cpa_conversions", "spend_day", "spend_today")


class AdStatsReader:
    """Reads the statistics of the given creatives and campaigns, one pipelined round trip."""

    def __init__(self, cfg: Config, *, socket_timeout_ms: int):
        self.project = cfg.feast.project
        self.client = _redis(cfg, socket_timeout_ms)
        self.cr_fields = [field_name(AD_STATS_VIEW, n) for n in _CREATIVE_READ]
        self.cm_fields = [field_name(CAMPAIGN_STATS_VIEW, n) for n in _CAMPAIGN_READ]

    def read(self, creative_ids: Iterable[str], campaign_ids: Iterable[str]) -> tuple[dict, dict]:
        """({creative id: {name: value}}, {campaign id: {name: value}}) of the entities that have
        statistics; raises the client's error (ConnectionError, TimeoutError) when the store fails."""
        crs, cms = list(creative_ids), list(campaign_ids)
        with self.client.pipeline(transaction=False) as pipe:
            for c in crs:
                pipe.hmget(redis_key(self.project, CREATIVE_KEY, c), self.cr_fields)
            for c in cms:
                pipe.hmget(redis_key(self.project, CAMPAIGN_KEY, c), self.cm_fields)
            replies = pipe.execute()
        return (_values(crs, replies[:len(crs)], _CREATIVE_READ),
                _values(cms, replies[len(crs):], _CAMPAIGN_READ))

    def close(self) -> None:
        self.client.close()


def _values(ids, replies, names) -> dict:
    out = {}
    for entity_id, raw in zip(ids, replies):
        if all(b is None for b in raw):
            continue
        out[entity_id] = {n: None if b is None else decode(b) for n, b in zip(names, raw)}
    return out
