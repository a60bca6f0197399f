"""Training data: no leakage from after the request, attribution windows, loaders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.datasets.common import ordered_target_stats
from models.datasets.logged import attach_labels, pit_profiles
from models.datasets.replay import replay_rows, smoothed_ctr
from tests.support.model_fixtures import live_dataset, model_config, tabular_dataset, tiny_world
from udfs.core.features import model_feature_names
from udfs.core.featurize import AdView, Featurizer, RequestView
from udfs.core.profile import EventView, ProfileParams, build, snapshot

pytestmark = pytest.mark.unit
SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"


@pytest.fixture(scope="module")
def cfg():
    return model_config()


def _rows(cfg, ev, im, ads):
    return replay_rows(ev, im, ads, ProfileParams.from_config(cfg.profile.windows),
                       cfg.scoring.fallback_prior_ctr, cfg.model.prior_strength)


def test_event_after_impression_never_reaches_its_row(cfg):
    ev, im, ads = tiny_world(1, events=400, imps=300)
    before = _rows(cfg, ev, im, ads)
    k = 150
    u, t, cre = im.loc[k, "user_id"], int(im.loc[k, "ts"]), im.loc[k, "creative_id"]
    later = pd.DataFrame([{"user_id": u, "ts": t + dt, "type": typ, "category_id": ads[cre].category_id,
                           "brand_id": ads[cre].brand_id, "price": 99.0}
                          for dt in (0, 1, 500) for typ in ("view", "cart", "purchase")])
    ev2 = pd.concat([ev, later], ignore_index=True).sort_values("ts", kind="stable")
    after = _rows(cfg, ev2, im, ads)
    np.testing.assert_array_equal(after[k], before[k])
    # ...but the events are really there: a later impression of the same user sees them.
    nxt = im.index[(im["user_id"] == u) & (im["ts"] > t + 500)]
    assert len(nxt) and not np.array_equal(after[nxt[0]], before[nxt[0]])


def test_click_after_request_does_not_feed_its_own_ctr_prior(cfg):
    ev, im, ads = tiny_world(2, events=200, imps=200)
    im["click"] = 0
    im["click_ts"] = im["ts"]
    base = _rows(cfg, ev, im, ads)
    col = model_feature_names(cfg.profile.windows.count_windows_s).index("ad_ctr_prior")
    k = 100
    im.loc[k, ["click", "click_ts"]] = [1, im.loc[k, "ts"] + 4000]
    rows = _rows(cfg, ev, im, ads)
    assert rows[k, col] == base[k, col]
    same_ad_later = im.index[(im["creative_id"] == im.loc[k, "creative_id"]) & (im["ts"] > im.loc[k, "ts"] + 4000)]
    assert rows[same_ad_later[0], col] > base[same_ad_later[0], col]


def test_replay_row_equals_direct_featurization(cfg):
    ev, im, ads = tiny_world(3, events=300, imps=100)
    rows = _rows(cfg, ev, im, ads)
    p = ProfileParams.from_config(cfg.profile.windows)
    k = 80
    r = im.loc[k]
    mine = ev[(ev["user_id"] == r["user_id"]) & (ev["ts"] < r["ts"])]
    state = build((EventView(int(e.ts), e.type, e.category_id, e.brand_id, e.price)
                   for e in mine.itertuples()), p)
    prior = im[im["ts"] < r["ts"]]
    n = int((prior["creative_id"] == r["creative_id"]).sum())
    c = int(((prior["creative_id"] == r["creative_id"]) & (prior["click"] > 0) & (prior["click_ts"] < r["ts"])).sum())
    a = ads[r["creative_id"]]
    want = Featurizer(p.windows_s).matrix(
        snapshot(state, p) if len(mine) else None,
        [AdView(r["creative_id"], a.category_id, a.brand_id, a.price,
                smoothed_ctr(c, n, cfg.scoring.fallback_prior_ctr, cfg.model.prior_strength))],
        RequestView(int(r["ts"]), r["device"], None, int(r["position"])))[0]
    np.testing.assert_allclose(rows[k], want, rtol=1e-6)


def test_request_time_not_impression_time_is_the_cut(cfg):
    ev, im, ads = tiny_world(4, events=200, imps=100)
    k = 50
    u, t = im.loc[k, "user_id"], int(im.loc[k, "ts"])
    im["request_ts"] = im["ts"] - 25  # the scorer ran 25 ms before the impression was logged
    base = _rows(cfg, ev, im, ads)
    between = pd.DataFrame([{"user_id": u, "ts": t - 10, "type": "view", "category_id": "c0",
                             "brand_id": "b0", "price": 1.0}])
    rows = _rows(cfg, pd.concat([ev, between]).sort_values("ts", kind="stable"), im, ads)
    np.testing.assert_array_equal(rows[k], base[k])


def test_attribution_window():
    imp = pd.DataFrame({"impression_id": ["a", "b", "c"], "ts": [0, 0, 0]})
    clicks = pd.DataFrame({"impression_id": ["a", "b", "b", "x"], "ts": [5_000, 3_600_000, 9_000, 1]})
    conv = pd.DataFrame({"impression_id": ["a", "c"], "ts": [60_000, 8 * 86_400_000]})
    out = attach_labels(imp, clicks, conv, click_window_s=1800, conversion_window_s=7 * 86400)
    assert out["click"].tolist() == [1, 1, 0]
    assert out["click_ts"].tolist()[:2] == [5_000, 9_000]
    assert out["conversion"].tolist() == [1, 0, 0]


def test_point_in_time_join_is_strictly_before(cfg):
    w = cfg.profile.windows.count_windows_s
    prof = pd.DataFrame({"user_id": ["u", "u", "u"], "event_timestamp": [100, 200, 300],
                         "session_events": [1, 2, 3]})
    ent = pd.DataFrame({"user_id": ["u", "u", "u", "v"], "ts": [50, 200, 301, 400]})
    got = pit_profiles(ent, prof, w)
    assert got[0] is None and got[3] is None
    assert got[1]["session_events"] == 1  # the profile written *at* 200 is not visible at 200
    assert got[2]["session_events"] == 3


def test_ordered_target_stats_never_see_own_label():
    keys = pd.Series(["a", "a", "a", "b"])
    y = np.array([1, 1, 0, 1])
    s1, n1 = ordered_target_stats(keys, y, np.arange(4), strength=1.0)
    s2, _ = ordered_target_stats(keys, 1 - y, np.arange(4), strength=1.0)
    assert s1[0] == s2[0]  # first row: nothing earlier, its own label cannot matter
    assert n1.tolist() == pytest.approx(np.log1p([0, 1, 2, 0]).tolist())
    assert s1[1] > s2[1]  # second 'a' sees the first one's label


def test_live_dataset_has_the_live_feature_list(cfg):
    ds = live_dataset(cfg)
    assert ds.live and ds.features == model_feature_names(cfg.profile.windows.count_windows_s)


def test_tabular_loader_roles_and_time(tmp_path):
    ds = tabular_dataset(n=300)
    assert ds.features == ["x", "noise", "site_te", "site_n"]
    assert ds.ts is not None and set(ds.segments) == {"site"}
    f = tmp_path / "log.parquet"
    from tests.support.model_fixtures import tabular_frame
    tabular_frame(n=50).to_parquet(f)
    from models.datasets.tabular import load_tabular
    ds2 = load_tabular(f, label="click", numeric=["x"], categorical=["site"])
    assert len(ds2.X) == 50 and ds2.ts is None
    with pytest.raises(ValueError, match="not found"):
        load_tabular(f, label="click", numeric=["nope"])


CRITEO = SHARED / "criteo_sample" / "train_head2k.csv"
OBD = SHARED / "open_bandit_zozotown" / "random" / "men"


@pytest.mark.skipif(not CRITEO.exists(), reason=f"shared Criteo sample absent ({CRITEO})")
def test_criteo_sample_loads():
    from models.datasets.criteo import load_criteo
    ds = load_criteo(CRITEO)
    assert len(ds.X) == 1999 and 0.15 < ds.y.mean() < 0.3
    assert [f"I{i}" for i in range(1, 14)] == ds.features[:13] and "C26_te" in ds.features


@pytest.mark.skipif(not OBD.exists(), reason=f"shared Open Bandit sample absent ({OBD})")
def test_open_bandit_sample_loads():
    from models.datasets.openbandit import load_openbandit
    ds = load_openbandit(OBD)
    assert len(ds.X) == 10_000 and int(ds.y.sum()) == 46
    assert {"position", "item_feature_0", "item_id_te"} <= set(ds.features)
    assert "propensity_score" not in ds.features
    assert np.all(np.diff(np.sort(ds.ts)) >= 0) and ds.prior_key is not None
