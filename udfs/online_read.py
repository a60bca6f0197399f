"""The scoring job's profile read: the FeatureService's features for one user, straight from Redis.

Feast's ``get_online_features`` spends most of its ~0.5 ms per call planning the
request (registry look-ups, feature-reference resolution, response protobufs,
``to_dict``) rather than in Redis. This reader does what Feast's Redis online
store does underneath — same key (``_redis_key``, serialisation v3) and field names
(``mmh3("<view>:<feature>")`` plus ``_ts:<view>``), both from ``udfs.feast_values``, one ``HMGET``, the same
``ValueProto`` decoding and Python conversion (``feast_value_type_to_python_type``)
— once per call and nothing else. ``tests/integration/test_online_read.py`` checks
that it returns exactly what ``ProfileReader.read`` (Feast) returns.

The Redis client carries the scoring job's socket timeouts, so one read is
bounded by ``scoring_job.profile_timeout_ms`` (connect and read).
"""
from __future__ import annotations

from udfs.config import Config
from udfs.feast_values import field_name, redis_key
from udfs.features import ENTITY_KEY, FEATURE_VIEW, served_profile_features


class OnlineProfileReader:
    def __init__(self, cfg: Config, *, socket_timeout_ms: int | None = None):
        import redis
        self.project = cfg.feast.project
        self.names = served_profile_features(cfg.profile.windows.count_windows_s)
        self.fields = [field_name(FEATURE_VIEW, n) for n in self.names] + [f"_ts:{FEATURE_VIEW}".encode()]
        t = None if socket_timeout_ms is None else socket_timeout_ms / 1000
        self.client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                  socket_timeout=t, socket_connect_timeout=t)

    def key(self, user_id: str) -> bytes:
        return redis_key(self.project, ENTITY_KEY, user_id)

    def read(self, user_id: str) -> dict | None:
        """Feature name → value as Feast returns it; None when the user has no stored profile."""
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type
        raw = self.client.hmget(self.key(user_id), self.fields)
        if all(b is None for b in raw[:-1]):
            return None
        out = {}
        for name, b in zip(self.names, raw):
            if b is None:
                out[name] = None
                continue
            v = Value()
            v.ParseFromString(b)
            kind = v.WhichOneof("val")
            if kind in _SCALARS:
                out[name] = getattr(v, kind)
            elif kind in _LISTS:
                out[name] = list(getattr(v, kind).val)
            else:   # anything else (or nothing set): Feast's own conversion
                out[name] = feast_value_type_to_python_type(v)
        return out


# The value kinds the profile view uses, converted as feast_value_type_to_python_type does.
_SCALARS = {"int64_val", "double_val", "string_val", "int32_val", "float_val", "bool_val"}
_LISTS = {"string_list_val", "double_list_val", "int64_list_val", "float_list_val", "int32_list_val"}
