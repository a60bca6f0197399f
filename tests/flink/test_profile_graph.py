"""The profile job's Python stage as a Flink graph on in-memory input (no Kafka, no Redis).

The SQL slicing in front of it runs on processing time, which never fires on a
finished in-memory source; it is covered on Kafka by tests/integration/test_profile_job.py.
"""
import json

import pytest

from udfs import config
from udfs.messages import ClickEvent, Consent

pytestmark = pytest.mark.flink

T0 = 1_764_547_200_000


def ev(i, user, sec, type_="view"):
    return "-" + ClickEvent(event_id=f"e{i}", user_id=user, ts=T0 + sec * 1000, type=type_,
                            item_id="i", category_id="c1", price=4.0,
                            consent=Consent(personalisation=True)).encode().decode()


def test_batches_become_profiles_and_dead_letters():
    from pyflink.common import Row, Types
    from jobs.common import table_env
    from jobs.profile import apply
    from tests.flink.helpers import collect
    cfg = config.load("test")
    env, _ = table_env(cfg, "test-profile-graph")
    batches = [Row(0, json.dumps([ev(1, "a", 0), ev(2, "a", 30, "cart"), "-{oops", ev(3, "b", 5)])),
               Row(0, json.dumps([ev(2, "a", 30, "cart"), "L" + ev(4, "b", 1)[1:], ev(5, "a", 60)]))]
    stream = env.from_collection(batches, type_info=Types.ROW([Types.INT(), Types.STRING()]))
    out = collect(apply(stream, cfg, write_feast=False, emit_profiles=True))
    dead = [json.loads(o[1:]) for o in out if o[0] == "D"]
    profiles = [json.loads(o[1:]) for o in out if o[0] == "P"]
    assert sorted(d["kind"] for d in dead) == ["duplicate", "invalid", "late"]
    last_a = [p for p in profiles if p["user_id"] == "a"][-1]["profile"]
    assert last_a["cnt_view_10m"] == 2 and last_a["cnt_cart_10m"] == 1
    assert [p["profile"]["cnt_view_10m"] for p in profiles if p["user_id"] == "b"] == [1]
    # versions only grow per user
    va = [p["version_us"] for p in profiles if p["user_id"] == "a"]
    assert va == sorted(va) and len(set(va)) == len(va)


def test_with_centroids_configured_each_profile_carries_its_offline_segment(tmp_path):
    """interests.segments.centroids_uri reaches the workers: segment_id is the offline rule's."""
    import numpy as np
    from pyflink.common import Row, Types
    from jobs.common import table_env
    from jobs.profile import apply
    from tests.flink.helpers import collect
    from udfs.core import segments as S
    cols = ("cnt_view_24h", "cnt_search_24h", "cnt_cart_24h", "cnt_fav_24h", "cnt_purchase_24h")
    width = len(cols) + 2
    centroids = np.zeros((2, width))
    centroids[1, 0] = 5.0                                   # segment 9: many views
    model = S.SegmentModel(cols, ("c1",), np.zeros(width), np.ones(width), centroids, (4, 9), 10)
    path = tmp_path / "segments.json"
    path.write_text(model.to_json())
    cfg = config.load("test", overrides=[f"interests.segments.centroids_uri={path}"])
    env, _ = table_env(cfg, "test-profile-graph-segments")
    batches = [Row(0, json.dumps([ev(i, "heavy", i) for i in range(1, 200)] + [ev(500, "light", 3)]))]
    stream = env.from_collection(batches, type_info=Types.ROW([Types.INT(), Types.STRING()]))
    out = [json.loads(o[1:]) for o in collect(apply(stream, cfg, write_feast=False, emit_profiles=True))
           if o[0] == "P"]
    got = {p["user_id"]: p["profile"] for p in out}
    assert got["heavy"]["segment_id"] == 9 and got["light"]["segment_id"] == 4
    assert all(p["profile"]["segment_id"] == S.segment_of(p["profile"], model) for p in out)
