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
