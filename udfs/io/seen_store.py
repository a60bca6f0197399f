"""What each user has seen (``udfs.core.seen``), in the online store beside the user's profile.

Feast's Redis layout (``udfs.io.feast_values``): the user's hash — the same key the profile
lives under — gets the ``user_impressions`` view's field and its ``_ts`` timestamp, so
Feast's ``get_online_features`` reads it and the scorer can fetch it in the profile's own
``HMGET``. Values are absolute (the whole caps state), so a write repeated after a restart
leaves the same bytes.
"""
from __future__ import annotations

from typing import Sequence

from udfs.config import Config
from udfs.core.features import ENTITY_KEY, SEEN_FEATURE, SEEN_VIEW
from udfs.io.feast_values import string_list, field_name, redis_key

FIELD = field_name(SEEN_VIEW, SEEN_FEATURE.name)
TS_FIELD = f"_ts:{SEEN_VIEW}".encode()


def _timestamp(ts_ms: int) -> bytes:
    from google.protobuf.timestamp_pb2 import Timestamp
    t = Timestamp(seconds=ts_ms // 1000, nanos=(ts_ms % 1000) * 1_000_000)
    return t.SerializeToString()


class SeenWriter:
    def __init__(self, cfg: Config):
        import redis
        from udfs.core.retention import user_ttl_s
        self.project = cfg.feast.project
        self.ttl_s = user_ttl_s(cfg)   # retention: the hash the profile shares, with the same TTL
        timeout = cfg.feedback.redis_timeout_ms / 1000   # a paused Redis raises, never hangs the task
        self.client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                  socket_timeout=timeout, socket_connect_timeout=timeout)

    def write(self, rows: Sequence[tuple[str, list[str], int]]) -> int:
        """rows: (user id, encoded caps state, time of its latest impression in ms); one pipeline."""
        if not rows:
            return 0
        with self.client.pipeline(transaction=False) as pipe:
            for user_id, entries, ts_ms in rows:
                key = redis_key(self.project, ENTITY_KEY, user_id)
                pipe.hset(key, mapping={FIELD: string_list(entries), TS_FIELD: _timestamp(ts_ms)})
                pipe.expire(key, self.ttl_s)
            pipe.execute()
        return len(rows)

    def erase(self, user_ids: Sequence[str]) -> int:
        """An erasure request: the caps fields of each user's hash; returns the fields removed."""
        if not user_ids:
            return 0
        with self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hdel(redis_key(self.project, ENTITY_KEY, user_id), FIELD, TS_FIELD)
            return sum(pipe.execute())

    def close(self) -> None:
        self.client.close()
