"""The scoring job's direct profile read returns exactly what Feast's get_online_features returns."""
from __future__ import annotations

import uuid

import pytest

from tests.support import scoring_support as S
from udfs import config
from udfs.io import feast_store
from udfs.io.online_read import OnlineProfileReader

pytestmark = pytest.mark.integration


def test_direct_read_equals_feast(stack):
    cfg = config.load("test")
    feast_store.apply(cfg)
    tag = uuid.uuid4().hex[:8]
    users = {f"{tag}-a": [(0, "view", "c2"), (30, "cart", "c2"), (90, "purchase", "c1"), (95, "fav", "c3")],
             f"{tag}-b": [(5, "search", "c3")],
             f"{tag}-c": [(i * 7, "view", f"c{i % 12}") for i in range(40)]}
    S.write_profiles(cfg, users)
    feast = feast_store.ProfileReader(cfg)
    direct = OnlineProfileReader(cfg, socket_timeout_ms=50)
    for uid in [*users, f"{tag}-nobody"]:
        want = feast.read([uid])[0]
        want.pop("user_id")
        got = direct.read(uid)
        if uid.endswith("nobody"):
            assert got is None and all(v is None for v in want.values())
        else:
            assert got == want and {type(v) for v in got.values()} == {type(v) for v in want.values()}


def test_what_a_user_has_seen_comes_with_the_profile_read_and_through_feast(stack):
    """The feedback job's caps state (SeenWriter) shares the profile's hash: the scorer's one HMGET
    returns it beside the profile, and Feast reads the same value."""
    from udfs.core import seen
    from udfs.core.features import SEEN_FEATURE, SEEN_VIEW
    from udfs.io.seen_store import SeenWriter
    cfg = config.load("test")
    feast_store.apply(cfg)
    tag = uuid.uuid4().hex[:8]
    both, only_seen, neither = f"{tag}-both", f"{tag}-seen", f"{tag}-none"
    S.write_profiles(cfg, {both: [(0, "view", "c2")]})
    now = S.T0 + 60_000
    states = {u: {f"creative|{u}|cr1": [now - 2000, now - 1000]} for u in (both, only_seen)}
    SeenWriter(cfg).write([(u, seen.encode(st), now) for u, st in states.items()])
    direct = OnlineProfileReader(cfg, socket_timeout_ms=200)
    profile = direct.read(both)
    assert profile is not None and SEEN_FEATURE.name not in profile
    assert seen.decode(direct.seen_of(both)) == states[both]
    assert direct.seen_of(only_seen) is None                       # not read yet
    assert direct.read(only_seen) is None and seen.decode(direct.seen_of(only_seen)) == states[only_seen]
    assert direct.read(neither) is None and direct.seen_of(neither) == []
    direct.forget()
    assert direct.seen_of(neither) is None
    got = feast_store.store(cfg).get_online_features(
        features=[f"{SEEN_VIEW}:{SEEN_FEATURE.name}"], entity_rows=[{"user_id": both}]).to_dict()
    assert seen.decode(got[SEEN_FEATURE.name][0]) == states[both]


def test_a_batch_read_returns_what_each_users_read_returns(stack):
    """``read_many`` (one pipeline of HMGETs, the batched scoring step's read) gives each user
    exactly ``read``'s profile and what they have seen — repeated, unknown and seen-only users too."""
    from udfs.core import seen
    from udfs.io.seen_store import SeenWriter
    cfg = config.load("test")
    feast_store.apply(cfg)
    tag = uuid.uuid4().hex[:8]
    users = {f"{tag}-a": [(0, "view", "c2"), (30, "cart", "c2")], f"{tag}-b": [(5, "search", "c3")]}
    S.write_profiles(cfg, users)
    only_seen = f"{tag}-seen"
    SeenWriter(cfg).write([(only_seen, seen.encode({f"creative|{only_seen}|cr1": [S.T0]}), S.T0)])
    ids = [f"{tag}-a", f"{tag}-nobody", only_seen, f"{tag}-b", f"{tag}-a"]
    one = OnlineProfileReader(cfg, socket_timeout_ms=200)
    want = [(one.read(u), one.seen_of(u)) for u in ids]
    many = OnlineProfileReader(cfg, socket_timeout_ms=200)
    got = many.read_many(ids)
    assert [(p, many.seen_of(u)) for p, u in zip(got, ids)] == want
    assert want[0][0] is not None and want[1] == (None, []) and want[2][0] is None and want[2][1]
    many.forget()
    assert many.seen_of(ids[0]) is None
