"""Feast adapter: the store built from our config, apply, and the online writer/reader.

Everything Feast-specific outside ``features/`` lives here, so the core logic in
``udfs/`` stays free of Feast. The Redis address and registry path come from the
config; ``features/feature_store.yaml`` is rendered from the same values for
people who run the ``feast`` CLI in that folder (``adstream features yaml``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from udfs.config import Config
from udfs.io.feast_values import ENCODERS, field_name, redis_key
from udfs.core.features import ENTITY_KEY, FEATURE_VIEW, profile_feature_names


def repo_dir(cfg: Config) -> Path:
    return Path(cfg.feast.repo_dir)


def _registry_path(cfg: Config) -> Path:
    return cfg.path("work_dir") / "feast" / "registry.db"


def render_yaml(cfg: Config) -> str:
    """feature_store.yaml for the ``feast`` CLI, paths relative to the repo folder."""
    import os
    rel = os.path.relpath(_registry_path(cfg), repo_dir(cfg))
    return (f"# Rendered from conf/ by `adstream features yaml` ({cfg.env}); edit conf/, not this file.\n"
            f"project: {cfg.feast.project}\n"
            f"registry: {rel}\n"
            f"provider: local\n"
            f"online_store:\n  type: redis\n  connection_string: \"{cfg.redis.address},db={cfg.redis.db}\"\n"
            f"offline_store:\n  type: file\n"
            f"entity_key_serialization_version: 3\n")


def store(cfg: Config, *, socket_timeout_ms: int | None = None):
    """A FeatureStore for this config (no feature_store.yaml needed).

    ``socket_timeout_ms`` bounds every Redis connect and read of this store (Feast
    passes extra ``key=value`` pairs of the connection string to the Redis client);
    the scoring job uses it so a slow or dead Redis costs a request at most that long.
    Feast's own writes set the user hash's TTL (``key_ttl_seconds``), as our writers do.
    """
    from udfs.core.retention import user_ttl_s
    from feast import FeatureStore, RepoConfig
    _registry_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    conn = f"{cfg.redis.address},db={cfg.redis.db}"
    if socket_timeout_ms is not None:
        conn += f",socket_timeout={socket_timeout_ms / 1000},socket_connect_timeout={socket_timeout_ms / 1000}"
    rc = RepoConfig(
        project=cfg.feast.project,
        registry=str(_registry_path(cfg)),
        provider="local",
        online_store={"type": "redis", "connection_string": conn, "key_ttl_seconds": user_ttl_s(cfg)},
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=str(repo_dir(cfg)),
    )
    return FeatureStore(config=rc, repo_path=str(repo_dir(cfg)))


def apply(cfg: Config) -> list[str]:
    """Register the definitions in ``features/`` (what ``feast apply`` does); return their names."""
    import contextlib
    import sys
    from feast.repo_operations import parse_repo
    repo = repo_dir(cfg)
    # Feast imports repo files as top-level modules named by their path from the cwd.
    sys.path.insert(0, str(repo))
    try:
        with contextlib.chdir(repo):
            contents = parse_repo(repo)
    finally:
        sys.path.remove(str(repo))
    objects = [*contents.entities, *contents.data_sources, *contents.feature_views,
               *contents.feature_services]
    fs = store(cfg)
    fs.apply(objects)
    return [f"{type(o).__name__}:{o.name}" for o in objects]


def version_timestamp(version_us: int) -> datetime:
    """A profile version (µs of event time, see ``UserState.version_us``) as Feast's event timestamp.

    Feast keeps a write only when its timestamp is newer than the stored one, so
    versions must grow with every change and repeat exactly on a replay.
    """
    return datetime.fromtimestamp(version_us // 1_000_000, tz=timezone.utc).replace(
        microsecond=version_us % 1_000_000)


class ProfileEraser:
    """Deletes users' personal online data — the ``user_profile`` view's fields and the
    ``user_impressions`` view's (the caps the feedback job stores), each with its timestamp — from
    the online store: a withdrawal of consent (docs/privacy.md). Feast has no per-entity delete,
    so this removes the same hash fields the write paths set, by their own key and field
    functions; Redis drops the hash once nothing is left in it."""

    def __init__(self, cfg: Config, client=None):
        from udfs.core.features import profile_features
        if client is None:
            import redis
            timeout = cfg.profile.redis_timeout_ms / 1000
            client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                 socket_timeout=timeout, socket_connect_timeout=timeout)
        self.client, self.project = client, cfg.feast.project
        self.fields = [field_name(FEATURE_VIEW, f.name)
                       for f in profile_features(cfg.profile.windows.count_windows_s)]
        self.fields.append(f"_ts:{FEATURE_VIEW}".encode())
        from udfs.io import seen_store   # the caps view's fields, as its writer names them
        self.fields += [seen_store.FIELD, seen_store.TS_FIELD]

    def delete(self, user_ids: Sequence[str]) -> int:
        """Remove each user's profile; one pipeline. Returns how many users had one."""
        if not user_ids:
            return 0
        with self.client.pipeline(transaction=False) as pipe:
            for u in user_ids:
                pipe.hdel(redis_key(self.project, ENTITY_KEY, u), *self.fields)
            return sum(1 for n in pipe.execute() if n)

    def erase_keys(self, user_ids: Sequence[str]) -> dict[str, int]:
        """An erasure request: the user's whole hash goes (every view written under the user's key,
        not only the profile's and the caps'); returns the fields each held. One pipeline."""
        if not user_ids:
            return {}
        with self.client.pipeline(transaction=False) as pipe:
            for u in user_ids:
                key = redis_key(self.project, ENTITY_KEY, u)
                pipe.hlen(key)
                pipe.delete(key)
            replies = pipe.execute()
        return {u: int(replies[2 * i]) for i, u in enumerate(user_ids)}


class ProfileWriter:
    """Writes profile snapshots through Feast's own online write path."""

    def __init__(self, cfg: Config):
        self.fs = store(cfg)
        self.columns = profile_feature_names(cfg.profile.windows.count_windows_s)
        self.eraser = ProfileEraser(cfg)

    def delete(self, user_ids: Sequence[str]) -> int:
        return self.eraser.delete(user_ids)

    def erase_keys(self, user_ids: Sequence[str]) -> dict[str, int]:
        return self.eraser.erase_keys(user_ids)

    def write(self, rows: Sequence[tuple[str, Mapping, datetime]]) -> int:
        """rows: (user_id, snapshot, version timestamp); latest per user must be pre-selected."""
        if not rows:
            return 0
        import pandas as pd
        data = {ENTITY_KEY: [u for u, _, _ in rows],
                "event_timestamp": [ts for _, _, ts in rows]}
        for c in self.columns:
            data[c] = [snap[c] for _, snap, _ in rows]
        self.fs.write_to_online_store(FEATURE_VIEW, pd.DataFrame(data))
        return len(rows)


class RedisProfileWriter:
    """The same online writes as :class:`ProfileWriter`, straight to Redis with one pipeline.

    Feast's write path converts a DataFrame through pandas/arrow into protobufs
    value by value, which costs more than the profile step itself. This builds the
    same ``ValueProto`` bytes directly (``udfs.io.feast_values``) and stores them with Feast's own key and field
    functions and its newer-timestamp-wins rule, so the bytes in Redis are
    identical (``tests/integration/test_feast_writer.py`` proves it by comparing
    both paths' hashes, also after a sequence of updates, and reading back through
    ``get_online_features``).

    A hash this writer wrote last (its stored timestamp is the one we wrote) gets
    only the fields whose values changed: the result is the same hash Feast's full
    write leaves, for a third of the bytes. Any other case — a key we have not
    written, or that another writer or an erasure changed since — gets every field.
    """

    def __init__(self, cfg: Config, *, cache_users: int | None = None):
        import collections

        import redis

        from udfs.core.features import profile_features
        self.project = cfg.feast.project
        # Bounded: a paused Redis must raise (and be retried by the job), not hang the task.
        timeout = cfg.profile.redis_timeout_ms / 1000
        self.client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                  socket_timeout=timeout, socket_connect_timeout=timeout)
        self.features = [(f.name, f.dtype, field_name(FEATURE_VIEW, f.name))
                         for f in profile_features(cfg.profile.windows.count_windows_s)]
        self.ts_field = f"_ts:{FEATURE_VIEW}".encode()
        from udfs.core.retention import user_ttl_s
        self.ttl_s = user_ttl_s(cfg)   # retention: an idle user's hash goes when the state does
        self._memo: dict[tuple, bytes] = {}
        self.capacity = cfg.profile.state_cache_users if cache_users is None else cache_users
        # key -> (timestamp bytes we wrote, the values we wrote), least recently written first
        self._last: "collections.OrderedDict[bytes, tuple[bytes, tuple]]" = collections.OrderedDict()
        self._keys: dict[str, bytes] = {}
        self.eraser = ProfileEraser(cfg, self.client)

    def delete(self, user_ids: Sequence[str]) -> int:
        """Erase the users' profiles (``ProfileEraser``); what this writer remembers of them goes too,
        so a later write sends every field."""
        for u in user_ids:
            self._last.pop(self._key(u), None)
        return self.eraser.delete(user_ids)

    def erase_keys(self, user_ids: Sequence[str]) -> dict[str, int]:
        """An erasure request's delete (``ProfileEraser.erase_keys``), forgetting the users too."""
        for u in user_ids:
            self._last.pop(self._key(u), None)
        return self.eraser.erase_keys(user_ids)

    def _key(self, user_id: str) -> bytes:
        k = self._keys.get(user_id)
        if k is None:
            if len(self._keys) >= max(self.capacity, 1):
                self._keys.clear()
            k = self._keys[user_id] = redis_key(self.project, ENTITY_KEY, user_id)
        return k

    def _encoded(self, dtype: str, v) -> bytes:
        # Counts, timestamps and ids repeat a lot across users: encode each once.
        if dtype in ("int64", "string"):
            key = (dtype, v)
            b = self._memo.get(key)
            if b is None:
                if len(self._memo) > 100_000:
                    self._memo.clear()
                b = self._memo[key] = ENCODERS[dtype](v)
            return b
        return ENCODERS[dtype](v)

    def _stored(self, pipe, keys: Sequence[bytes]) -> list[tuple[bytes | None, int]]:
        """Each key's stored ``_ts`` bytes and their time in ns (0 when absent): one round trip."""
        from google.protobuf.timestamp_pb2 import Timestamp
        for k in keys:
            pipe.hget(k, self.ts_field)
        out = []
        for raw in pipe.execute():
            nanos = 0
            if raw:
                t = Timestamp()
                t.ParseFromString(raw)
                nanos = t.seconds * 1_000_000_000 + t.nanos
            out.append((raw, nanos))
        return out

    def stored_versions_us(self, user_ids: Sequence[str]) -> list[int | None]:
        """Each user's stored profile version (µs, see ``version_timestamp``), or None; one pipeline."""
        with self.client.pipeline(transaction=False) as pipe:
            stored = self._stored(pipe, [self._key(u) for u in user_ids])
        return [nanos // 1000 if raw else None for raw, nanos in stored]

    def write(self, rows: Sequence[tuple[str, Mapping, datetime]]) -> int:
        from google.protobuf.timestamp_pb2 import Timestamp
        keys = [self._key(u) for u, _, _ in rows]
        with self.client.pipeline(transaction=False) as pipe:
            stored = self._stored(pipe, keys)
            latest: dict[bytes, int] = {}
            written = 0
            for key, (prev, prev_nanos), (_, snap, when) in zip(keys, stored, rows):
                ts = Timestamp()
                ts.FromDatetime(when)
                nanos = ts.seconds * 1_000_000_000 + ts.nanos
                seen = max(latest.get(key, 0), prev_nanos)
                if seen and nanos <= seen:
                    continue  # Feast's rule: only a newer write replaces a stored profile
                latest[key] = nanos
                ts_bytes = ts.SerializeToString()
                values = tuple(snap[name] for name, _, _ in self.features)
                # Equal values encode to equal bytes: profile values are never -0.0 or NaN.
                mine = self._last.pop(key, None)
                same = mine[1] if mine is not None and prev == mine[0] else None
                mapping = {self.ts_field: ts_bytes}
                for i, (_, dtype, field) in enumerate(self.features):
                    if same is None or same[i] != values[i]:
                        mapping[field] = self._encoded(dtype, values[i])
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, self.ttl_s)   # in the same pipeline: no extra round trip
                self._last[key] = (ts_bytes, values)
                written += 1
            while len(self._last) > self.capacity:
                self._last.popitem(last=False)
            pipe.execute()
        return written


class OnlineMarker:
    """A key per profile shard that says "this Redis has had this shard's profiles written".

    Redis in the local stack keeps nothing across a restart, and a flushed or replaced
    store looks the same from the job: the profiles of users who send nothing more are
    gone, though Flink state still holds them. The marker is how the job notices: it is
    set before a shard's profiles are (re)written, so a store that lost its data lost
    the marker too (docs/reliability.md, "Online-store repair").
    """

    def __init__(self, cfg: Config, job: str, source_topic: str):
        import redis
        timeout = cfg.profile.redis_timeout_ms / 1000
        self.client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db,
                                  socket_timeout=timeout, socket_connect_timeout=timeout)
        # Per job and input topic: two profile jobs on one store each repair their own users.
        self.prefix = f"{cfg.feast.project}:adstream:online-marker:{job}:{source_topic}:"

    def key(self, shard) -> str:
        return f"{self.prefix}{shard}"

    def present(self, shard) -> bool:
        return bool(self.client.exists(self.key(shard)))

    def set(self, shard) -> None:
        self.client.set(self.key(shard), b"1")


def make_writer(cfg: Config):
    """The profile writer the config asks for (``profile.writer``: feast | redis)."""
    return RedisProfileWriter(cfg) if cfg.profile.writer == "redis" else ProfileWriter(cfg)


class ProfileReader:
    """Reads the model's profile features (the FeatureService) for users."""

    def __init__(self, cfg: Config, *, socket_timeout_ms: int | None = None):
        self.fs = store(cfg, socket_timeout_ms=socket_timeout_ms)
        self.service = self.fs.get_feature_service(cfg.feast.feature_service)
        self.all_refs = [f"{FEATURE_VIEW}:{c}"
                         for c in profile_feature_names(cfg.profile.windows.count_windows_s)]

    def read(self, user_ids: Iterable[str]) -> list[dict]:
        rows = [{ENTITY_KEY: u} for u in user_ids]
        out = self.fs.get_online_features(features=self.service, entity_rows=rows).to_dict()
        keys = list(out)
        return [{k: out[k][i] for k in keys} for i in range(len(rows))]

    def read_all(self, user_ids: Iterable[str]) -> list[dict]:
        """Every profile feature (not only the service's), for inspection and tests."""
        rows = [{ENTITY_KEY: u} for u in user_ids]
        out = self.fs.get_online_features(features=self.all_refs, entity_rows=rows).to_dict()
        return [{k: out[k][i] for k in out} for i in range(len(rows))]
