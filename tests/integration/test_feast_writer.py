"""The direct Redis profile writer stores exactly what Feast's own write path stores."""
import uuid

import pytest

from udfs import config
from udfs.io import feast_store
from udfs.core import profile as P

pytestmark = pytest.mark.integration

T0 = 1_764_547_200_000


def _profiles(cfg, users):
    p = P.ProfileParams.from_config(cfg.profile.windows)
    out = []
    for n, u in enumerate(users):
        evs = [P.EventView(T0 + i * 60_000, ["view", "cart", "purchase", "search"][i % 4],
                           f"c{(i + n) % 5}" if i % 4 != 3 else None, f"b{i % 3}", 1.5 * i)
               for i in range(n)]  # user 0 has no events: empty lists, zero counts
        st = P.build(evs, p)
        out.append((u, P.snapshot(st, p), feast_store.version_timestamp((T0 + n) * 1000 + n)))
    return out


def _raw(cfg, users):
    import redis
    r = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db)
    w = feast_store.RedisProfileWriter(cfg)
    return [r.hgetall(w._key(u)) for u in users]


def test_direct_writes_are_byte_identical_and_read_back_through_feast(stack):
    a = config.load("test", overrides=["redis.db=3"])
    b = config.load("test", overrides=["redis.db=4"])
    feast_store.apply(a)
    users = [f"w-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    rows = _profiles(a, users)
    feast_store.ProfileWriter(a).write(rows)        # Feast's own path
    assert feast_store.RedisProfileWriter(b).write(rows) == len(rows)   # ours
    raw_a, raw_b = _raw(a, users), _raw(b, users)
    assert all(raw_a) and raw_a == raw_b
    got = feast_store.ProfileReader(b).read_all(users)
    for (u, snap, _), row in zip(rows, got):
        assert all(row[k] == pytest.approx(v) for k, v in snap.items()), (u, row, snap)


def test_changed_field_writes_leave_the_same_bytes_as_feasts_full_writes(stack):
    # Three versions per user through both paths; ours writes only changed fields after the
    # first. Between versions 2 and 3 one user's hash is deleted (as an erasure would) and
    # another's is overwritten by another writer: both must get a full write again.
    a = config.load("test", overrides=["redis.db=6"])
    b = config.load("test", overrides=["redis.db=7"])
    feast_store.apply(a)
    users = [f"s-{uuid.uuid4().hex[:6]}-{i}" for i in range(5)]
    p = P.ProfileParams.from_config(a.profile.windows)
    ours, feast = feast_store.RedisProfileWriter(b), feast_store.ProfileWriter(a)

    def version(k):
        rows = []
        for n, u in enumerate(users):
            evs = [P.EventView(T0 + i * 60_000, ["view", "cart", "purchase"][i % 3], f"c{i % 4}",
                               f"b{(i + k) % 2}", 2.0 * i) for i in range(3 * k + n)]
            st = P.build(evs, p)
            rows.append((u, P.snapshot(st, p), feast_store.version_timestamp((T0 + 10 * k) * 1000 + n)))
        return rows

    import redis
    rb = redis.Redis(host=b.redis.host, port=b.redis.port, db=b.redis.db)
    for k in (1, 2, 3):
        rows = version(k)
        if k == 3:
            rb.delete(ours._key(users[0]))
            other = feast_store.RedisProfileWriter(b, cache_users=10)
            junk = {f: (12345 if type(v) is int else 0.125 if type(v) is float else "zzz"
                        if type(v) is str else []) for f, v in rows[1][1].items()}
            other.write([(users[1], junk, feast_store.version_timestamp((T0 + 25) * 1000))])
        feast.write(rows)
        assert ours.write(rows) == len(rows)
    raw_a, raw_b = _raw(a, users), _raw(b, users)
    assert all(raw_a) and raw_a == raw_b


def test_direct_writer_keeps_feasts_newer_wins_rule(stack):
    cfg = config.load("test", overrides=["redis.db=5"])
    feast_store.apply(cfg)
    (u, snap, ts), = _profiles(cfg, ["x-" + uuid.uuid4().hex[:6]])
    w = feast_store.RedisProfileWriter(cfg)
    assert w.write([(u, snap, ts)]) == 1
    older = feast_store.version_timestamp(int(ts.timestamp() * 1_000_000) - 1)
    assert w.write([(u, {**snap, "session_events": 99}, older)]) == 0      # older: skipped
    assert w.write([(u, snap, ts)]) == 0                                   # replay: skipped
    assert feast_store.ProfileReader(cfg).read_all([u])[0]["session_events"] == snap["session_events"]
