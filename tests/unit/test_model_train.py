"""Split, search, calibration and metrics: time order, reproducibility, honest probabilities."""
from __future__ import annotations

import numpy as np
import pytest

from models import calibrate, metrics, train
from models.split import forward_folds, time_split
from tests.support.model_fixtures import live_dataset, model_config

pytestmark = pytest.mark.unit


def test_split_is_time_ordered_and_never_shuffled():
    rng = np.random.default_rng(0)
    ts = rng.integers(0, 10_000, 1000)
    s = time_split(ts, len(ts), 0.15, 0.15)
    assert ts[s.train].max() < ts[s.valid].min() and ts[s.valid].max() < ts[s.test].min()
    assert sorted(np.concatenate([s.train, s.valid, s.test]).tolist()) == list(range(1000))
    assert np.all(np.diff(ts[s.train]) >= 0)


def test_split_keeps_equal_timestamps_together():
    ts = np.repeat(np.arange(10), 10)  # 10 requests of 10 impressions
    s = time_split(ts, len(ts), 0.15, 0.15)
    assert not set(ts[s.train]) & set(ts[s.valid]) and not set(ts[s.valid]) & set(ts[s.test])


def test_split_without_time_uses_row_order():
    s = time_split(None, 100, 0.2, 0.2)
    assert s.train.tolist() == list(range(60)) and s.test.tolist() == list(range(80, 100))


def test_forward_folds_train_on_the_past():
    train_idx = np.arange(90)
    for past, nxt in forward_folds(train_idx, np.arange(90), 3):
        assert past.max() < nxt.min()


def test_metrics():
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert metrics.auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(metrics.auc(np.zeros(3), np.ones(3)))
    assert metrics.normalized_entropy(y, np.full(4, 0.5), 0.5) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 200_000)
    assert metrics.ece((rng.random(len(p)) < p).astype(int), p) < 0.005
    assert metrics.ece((rng.random(len(p)) < p).astype(int), p * 2) > 0.04


def test_calibration_repairs_upweighted_positives():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.005, 0.1, 50_000)
    y = (rng.random(len(p)) < p).astype(int)
    w = 5.0
    inflated = w * p / (w * p + 1 - p)  # what a model trained with scale_pos_weight=w outputs
    for m in ("none", "platt", "isotonic"):
        cal = calibrate.fit(m, y, inflated, pos_weight=w)
        assert metrics.ece(y, calibrate.apply(cal, inflated)) < 0.01, m
    chosen, scores = calibrate.choose(y, inflated, w)
    assert set(scores) == {"none", "platt", "isotonic"} and chosen["method"] in scores
    few = np.r_[np.ones(20, int), np.zeros(5000, int)]
    assert set(calibrate.choose(few, np.full(len(few), 0.01))[1]) == {"none", "platt"}


def test_training_is_reproducible_by_seed_and_learns():
    cfg = model_config()
    ds = live_dataset(cfg, 5)
    s = time_split(ds.ts, len(ds.y), 0.2, 0.2)
    X = ds.X.to_numpy(np.float32)
    kw = dict(budget=2, folds=2, rounds=30, early=5, nthread=1, progress=False)
    a = train.train(X, ds.y, ds.features, s, ds.ts, seed=3, **kw)
    b = train.train(X, ds.y, ds.features, s, ds.ts, seed=3, **kw)
    pa, pb = (train.predict(r.booster, r.calibration, X[s.test]) for r in (a, b))
    np.testing.assert_array_equal(pa, pb)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]
    assert metrics.auc(ds.y[s.test], pa) > 0.7
    assert a.booster.num_boosted_rounds() == a.best_iteration


def _honest_blocks(k: int, n: int, scale: float, seed: int = 0):
    """``k`` time blocks of (labels, predictions): the truth is ``p``; the model says ``p`` with
    its logit stretched by ``scale`` (1 = calibrated, 2 = overconfident)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        z = rng.normal(-2.0, 1.0, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
        out.append((y, 1 / (1 + np.exp(-scale * z))))
    return out


def test_cv_calibration_keeps_a_calibrated_model_as_it_is():
    *blocks, final = _honest_blocks(4, 3000, 1.0)
    cal, info = calibrate.choose_cv(blocks, final)
    assert cal["method"] == "none" and info["chosen"] == "none"
    assert set(info["cv_logloss"]) == {"none", "platt", "isotonic"} and info["folds"] == 3


def test_cv_calibration_repairs_an_overconfident_model_and_not_worse_on_new_data():
    *blocks, final = _honest_blocks(4, 3000, 2.0)
    cal, info = calibrate.choose_cv(blocks, final)
    assert cal["method"] in ("platt", "isotonic") and info["cv_logloss"][cal["method"]] < info["cv_logloss"]["none"]
    y, p = _honest_blocks(1, 20_000, 2.0, seed=9)[0]
    assert metrics.ece(y, calibrate.apply(cal, p)) < metrics.ece(y, p)


def test_cv_calibration_falls_back_to_none_on_scarce_clicks():
    rng = np.random.default_rng(3)
    blocks = [((rng.random(400) < 0.01).astype(int), np.full(400, 0.05)) for _ in range(4)]
    cal, info = calibrate.choose_cv(blocks[:-1], blocks[-1])
    assert cal["method"] == "none" and "allowed by the clicks" in info["reason"]
    cal, info = calibrate.choose_cv([], blocks[-1])
    assert cal["method"] == "none" and "too few" in info["reason"]
    assert calibrate.choose_cv(blocks[:-1], blocks[-1], method="platt")[0]["method"] == "platt"
