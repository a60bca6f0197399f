"""Segments: ids stable across retrains, the online assignment is the offline one."""
import dataclasses
import random

import numpy as np
import pytest

from models.interests import events as E
from models.interests import segments as G
from udfs.config.interests import Segments
from udfs.core import profile as P
from udfs.core import segments as S

COUNTS = ("cnt_view_24h", "cnt_cart_24h", "cnt_purchase_24h")
CFG = Segments(k_min=2, k_max=5, seed=3, batch_size=64, n_init=3, categories=6)


def _planted(n_per: int = 60, seed: int = 0) -> dict:
    """Three kinds of user: heavy viewers of c1, buyers of c2, light browsers of c3 and c4."""
    rng = random.Random(seed)
    out = {}
    kinds = [("c1", 40, 1, 0), ("c2", 10, 6, 4), ("c3", 2, 0, 0)]
    for k, (cat, views, carts, buys) in enumerate(kinds):
        for i in range(n_per):
            other = "c4" if k == 2 else "c5"
            main, rest = 0.8 + rng.random() * 0.1, 0.1
            out[f"u{k}-{i:03d}"] = {"cnt_view_24h": views + rng.randint(0, 3), "cnt_cart_24h": carts,
                                    "cnt_purchase_24h": buys, "avg_price_viewed": 10.0 * (k + 1),
                                    "top_categories": [cat, other], "top_category_scores": [main, rest],
                                    "interest_total": main + rest}
    return out


def test_retrain_on_the_same_data_keeps_every_id():
    prof = _planted()
    a = G.fit(prof, CFG, COUNTS)
    b = G.fit(prof, CFG, COUNTS, previous=a.model)
    assert a.model.meta["k"] == 3
    assert b.users == a.users and (b.labels == a.labels).all()
    assert b.model.ids == a.model.ids and b.model.next_id == a.model.next_id == 3


def test_retrain_on_permuted_rows_with_another_seed_keeps_each_users_id():
    prof = _planted()
    a = G.fit(prof, CFG, COUNTS)
    keys = list(prof)
    random.Random(5).shuffle(keys)
    shuffled = {k: prof[k] for k in keys}
    b = G.fit(shuffled, dataclasses.replace(CFG, seed=99), COUNTS, previous=a.model)
    assert dict(zip(b.users, b.labels)) == dict(zip(a.users, a.labels))
    # without the previous run the ids are by size, which ties here: matching is what keeps them


def test_a_new_segment_gets_a_fresh_id_and_old_ids_survive():
    prof = _planted()
    a = G.fit(prof, dataclasses.replace(CFG, k_min=2, k_max=2), COUNTS)
    b = G.fit(prof, dataclasses.replace(CFG, k_min=3, k_max=3), COUNTS, previous=a.model)
    assert set(a.model.ids) == {0, 1} and set(b.model.ids) == {0, 1, 2} and b.model.next_id == 3


def test_hungarian_matching_follows_the_centroids_not_the_row_order():
    prev = S.SegmentModel(("x",), (), np.zeros(2), np.ones(2), np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]]),
                          (7, 3, 4), 8)
    new = np.array([[9.1, 0.2], [0.1, -0.1], [5.2, 4.9]])
    ids, nxt = G.match_ids(new, np.array([1, 1, 1]), prev, prev.centroids)
    assert ids == [4, 7, 3] and nxt == 8


def _events(user_seed: int, cat: str, n: int) -> list:
    rng = random.Random(user_seed)
    t0 = 1_764_547_200_000
    return [P.EventView(t0 + i * 60_000, rng.choice(["view", "view", "cart"]), cat, "b1", 12.0 + i)
            for i in range(n)]


def test_online_segment_of_a_new_user_is_the_offline_nearest_centroid():
    prof = _planted()
    model = G.fit(prof, CFG, COUNTS).model
    params = P.ProfileParams(segments=model)
    for seed, cat, n in ((1, "c1", 30), (2, "c2", 5), (3, "c9", 2)):
        snap = P.snapshot(P.build(_events(seed, cat, n), params), params)   # the profile job's path
        raw = np.array(S.profile_vector(snap, model.count_features, model.categories))
        z = (raw - model.mean) / model.scale                             # by hand, not through S.assign
        by_hand = model.ids[int(np.argmin([np.sum((z - c) ** 2) for c in model.centroids]))]
        assert snap["segment_id"] == by_hand == int(S.assign(raw, model)[0])


def test_online_assignment_equals_the_offline_labels_of_the_training_users():
    evs = [dict(user_id=f"u{s}", ts=e.ts, type=e.type, category_id=e.category_id, brand_id=e.brand_id,
                price=e.price) for s in range(40) for e in _events(s, f"c{s % 3}", 3 + s % 7)]
    import pandas as pd
    frame = pd.DataFrame(evs).sort_values("ts", kind="stable")
    params = P.ProfileParams()
    fit = G.fit(E.fold_profiles(frame, params), dataclasses.replace(CFG, categories=3), COUNTS[:2])
    online = E.fold_profiles(frame, P.ProfileParams(segments=fit.model))
    assert [online[u]["segment_id"] for u in fit.users] == fit.labels.tolist()


def test_without_a_model_the_segment_is_minus_one_and_the_file_round_trips():
    snap = P.snapshot(P.build(_events(1, "c1", 3), P.ProfileParams()), P.ProfileParams())
    assert snap["segment_id"] == S.NO_SEGMENT == -1
    model = G.fit(_planted(), CFG, COUNTS).model
    back = S.SegmentModel.from_json(model.to_json())
    assert back.ids == model.ids and np.array_equal(back.centroids, model.centroids)
    with pytest.raises(ValueError, match="not a segments file"):
        S.SegmentModel.from_json('{"format": "other"}')


def test_the_profile_job_loads_centroids_from_a_path_or_file_uri_and_says_what_to_do(tmp_path):
    from udfs.errors import ConfigError
    from udfs.io import segment_store
    model = G.fit(_planted(), CFG, COUNTS).model
    path = tmp_path / "segments.json"
    path.write_text(model.to_json())
    assert segment_store.load("") is None
    assert segment_store.load(str(path)).ids == model.ids
    assert segment_store.load(f"file://{path}").ids == model.ids
    with pytest.raises(ConfigError, match="only a local path"):
        segment_store.load("s3://bucket/segments.json")
    with pytest.raises(ConfigError, match="adstream interests segments"):
        segment_store.load(str(tmp_path / "missing.json"))


def test_profile_snapshots_from_parquet_keep_each_users_newest_row(tmp_path):
    import pandas as pd
    rows = [dict(user_id="a", event_timestamp=pd.Timestamp(2, unit="s"), cnt_view_24h=9,
                 top_categories=["c2"], top_category_scores=[1.0], interest_total=1.0),
            dict(user_id="a", event_timestamp=pd.Timestamp(1, unit="s"), cnt_view_24h=1,
                 top_categories=["c1"], top_category_scores=[1.0], interest_total=1.0),
            dict(user_id="b", event_timestamp=pd.Timestamp(1, unit="s"), cnt_view_24h=3,
                 top_categories=[], top_category_scores=[], interest_total=0.0)]
    pd.DataFrame(rows).to_parquet(tmp_path / "p.parquet")
    prof = E.read_profiles(tmp_path / "p.parquet")
    assert set(prof) == {"a", "b"} and prof["a"]["cnt_view_24h"] == 9 and prof["a"]["top_categories"] == ["c2"]
    assert S.profile_vector(prof["a"], ("cnt_view_24h",), ("c2", "c1"))[2:] == [1.0, 0.0]
