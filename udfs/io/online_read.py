"""The scoring job's profile read: the FeatureService's features for one user, straight from Redis.

Feast's ``get_online_features`` spends most of its ~0.5 ms per call planning the
request (registry look-ups, feature-reference resolution, response protobufs,
``to_dict``) rather than in Redis. This reader does what Feast's Redis online
store does underneath — same key (``_redis_key``, serialisation v3) and field names
(``mmh3("<view>:<feature>")`` plus ``_ts:<view>``), both from ``udfs.io.feast_values``,
one ``HMGET`` (the profile, the caps state and the ``user_attributes`` view's fields: the
three views share the user's hash; ``read_many``: one pipeline of them for a batch of
requests), the same values (``feast_values.decode`` reads the ``ValueProto`` layouts
the profile writer produces; anything else goes through protobuf and Feast's
``feast_value_type_to_python_type``) — and nothing else, so the scoring job does not
import Feast at all. ``tests/integration/test_online_read.py`` checks that it returns
exactly what ``ProfileReader.read`` (Feast) returns.

The read goes over one dedicated Redis connection — command packed, sent, reply
read — without redis-py's client layer (pool, retry wrapper, command dispatch),
which cost as much CPU again as the round trip itself (~45 µs a read). The
connection carries the scoring job's socket timeouts, so one read is bounded by
``scoring_job.profile_timeout_ms`` (connect and read); after any failure it is
closed, so a late reply can never be taken for the next request's
(``tests/unit/test_online_read_conn.py``).
"""
from __future__ import annotations

from typing import Callable

from udfs.core.breaker import CircuitBreaker, GuardedProfiles
from udfs.config import Config
from udfs.io.feast_values import FALLBACK, decode, field_name, redis_key
from udfs.core.features import (ATTRIBUTES_VIEW, ENTITY_KEY, FEATURE_VIEW, SEEN_FEATURE, SEEN_VIEW,
                                attribute_feature_names, served_profile_features)


class OnlineProfileReader:
    def __init__(self, cfg: Config, *, socket_timeout_ms: int | None = None):
        import redis
        self.project = cfg.feast.project
        self.names = served_profile_features(cfg.profile.windows.count_windows_s)
        self.attr_names = attribute_feature_names()
        self.fields = self.fields_of(cfg)
        self.n = len(self.names)
        self.seen: tuple[str, list] | None = None   # (user id, stored seen entries) of the last read
        self.seen_many: dict[str, list] | None = None   # user id → stored seen entries, of the last read_many
        t = None if socket_timeout_ms is None else socket_timeout_ms / 1000
        self.conn = redis.Connection(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                     socket_timeout=t, socket_connect_timeout=t)

    @staticmethod
    def fields_of(cfg: Config) -> list[bytes]:
        """The profile's fields and timestamp, what the user has seen (the feedback job's caps
        state), then the user's attributes (``adstream users load``): one HMGET for all three."""
        names = served_profile_features(cfg.profile.windows.count_windows_s)
        return ([field_name(FEATURE_VIEW, n) for n in names]
                + [f"_ts:{FEATURE_VIEW}".encode(), field_name(SEEN_VIEW, SEEN_FEATURE.name)]
                + [field_name(ATTRIBUTES_VIEW, n) for n in attribute_feature_names()])

    def key(self, user_id: str) -> bytes:
        return redis_key(self.project, ENTITY_KEY, user_id)

    def read(self, user_id: str) -> dict | None:
        """Feature name → value as Feast returns it for the FeatureService (the profile's and the
        user's attributes; an absent value None); None when the store holds neither. A user
        with attributes but no profile gets the profile's names as None (``featurize.has_profile``
        tells). What the user has seen is kept for :meth:`seen_of`."""
        self.seen, self.seen_many = None, None
        raw = self._hmget(self.key(user_id))
        self.seen = (user_id, self._seen_part(raw))
        return self._profile_part(raw)

    def read_many(self, user_ids: list) -> list:
        """``read`` of each user, aligned with ``user_ids``, in one round trip: their HMGETs sent
        as one pipeline, the replies read in order (each socket read bounded by the timeout, as
        one read's). Any failure fails them all (the connection is dropped, as after one read's).
        What each user has seen is kept for :meth:`seen_of`."""
        self.seen, self.seen_many = None, None
        raws = self._hmget_many([self.key(u) for u in user_ids])
        self.seen_many = {u: self._seen_part(raw) for u, raw in zip(user_ids, raws)}
        return [self._profile_part(raw) for raw in raws]

    def _seen_part(self, raw: list) -> list:
        seen = raw[self.n + 1]
        return [] if seen is None else _string_list(seen)

    def _profile_part(self, raw: list) -> dict | None:
        attrs = raw[self.n + 2:]
        if all(b is None for b in raw[:self.n]) and all(b is None for b in attrs):
            return None
        out: dict = {}
        _decode_into(out, self.names, raw)
        _decode_into(out, self.attr_names, attrs)
        return out

    def seen_of(self, user_id: str) -> list | None:
        """The stored seen entries (``udfs.core.seen``) of ``user_id``'s latest read, [] when the
        store holds none; None when that read did not happen or failed."""
        s = self.seen
        if s is not None:
            return s[1] if s[0] == user_id else None
        return None if self.seen_many is None else self.seen_many.get(user_id)

    def forget(self) -> None:
        """Before a request (or a batch): an earlier read must not stand in for this one's."""
        self.seen, self.seen_many = None, None

    def _hmget(self, key: bytes) -> list:
        conn = self.conn
        try:
            conn.send_packed_command(conn.pack_command("HMGET", key, *self.fields))
            return conn.read_response()   # an error reply is raised as redis.ResponseError
        except BaseException:
            conn.disconnect()              # out of step with the server now: start afresh
            raise

    def _hmget_many(self, keys: list) -> list:
        conn = self.conn
        try:
            conn.send_packed_command(conn.pack_commands([("HMGET", k, *self.fields) for k in keys]))
            return [conn.read_response() for _ in keys]
        except BaseException:
            conn.disconnect()              # replies left unread: never take them for the next read's
            raise

    def close(self) -> None:
        self.conn.disconnect()


def guarded_reader(cfg: Config, clock_ms: Callable[[], float],
                   log: Callable[[str], None]) -> tuple[GuardedProfiles, OnlineProfileReader]:
    """The scoring job's profile source: this reader, with its socket timeouts, behind the
    feature-store breaker (both from ``scoring_job``); and the reader itself (``seen_of``)."""
    job = cfg.scoring_job
    reader = OnlineProfileReader(cfg, socket_timeout_ms=job.profile_timeout_ms)
    breaker = CircuitBreaker(job.breaker_failures, job.breaker_cooldown_ms, clock_ms)
    return GuardedProfiles(reader.read, breaker, log, read_many=reader.read_many), reader


def _decode_into(out: dict, names, raw) -> None:
    for name, b in zip(names, raw):
        if b is None:
            out[name] = None
        elif (v := decode(b)) is not FALLBACK:
            out[name] = v
        else:
            out[name] = _protobuf_value(b)


def _string_list(b: bytes) -> list:
    v = decode(b)
    return list(v) if isinstance(v, list) else list(_protobuf_value(b) or [])


def _protobuf_value(b: bytes):
    """Bytes ``decode`` does not read itself, converted as Feast converts them (imports Feast)."""
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type
    v = Value()
    v.ParseFromString(b)
    kind = v.WhichOneof("val")
    if kind in _SCALARS:
        return getattr(v, kind)
    if kind in _LISTS:
        return list(getattr(v, kind).val)
    return feast_value_type_to_python_type(v)   # anything else (or nothing set)


# The value kinds the profile view uses, converted as feast_value_type_to_python_type does.
_SCALARS = {"int64_val", "double_val", "string_val", "int32_val", "float_val", "bool_val"}
_LISTS = {"string_list_val", "double_list_val", "int64_list_val", "float_list_val", "int32_list_val"}
