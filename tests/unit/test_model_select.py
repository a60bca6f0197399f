"""Candidates and selection: the simple model ships when it is right, trees when they are, every
candidate exports with parity, and the report shows them all."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest

from models import export, leaves, linear, select
from models.datasets.tabular import from_frame
from models.pipeline import run_evaluate, run_export, run_train
from tests.support.model_fixtures import T0, model_config
from udfs.errors import ModelError
from udfs.io.onnx_scorer import OnnxScorer

pytestmark = pytest.mark.unit


def _frame(kind: str, n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """``linear``: the logit is linear in the inputs (LR is the right model); ``xor``: an
    interaction no linear model can express (trees are)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    a[rng.random(n) < 0.05] = np.nan  # missing values: imputed by LR, routed by trees
    z = -1.2 + np.nan_to_num(a) - 0.7 * b if kind == "linear" else -1.2 + 2.5 * np.sign(np.nan_to_num(a) * b)
    return pd.DataFrame({"ts": T0 + np.arange(n) * 1000, "a": a, "b": b, "noise": rng.normal(size=n),
                         "click": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)})


def _ds(kind: str):
    return from_frame(_frame(kind), name=kind, label="click", time="ts", numeric=["a", "b", "noise"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cfg = model_config(max_rounds=300, early_stopping_rounds=20)
    base = tmp_path_factory.mktemp("select")
    out = {}
    for kind, cands in (("linear", None), ("xor", None), ("xor_trees_only", ("lr", "xgboost"))):
        ds = _ds(kind.split("_")[0])
        out[kind] = (ds, base / kind, run_train(cfg, ds, base / kind, budget=2, progress=False,
                                                candidates=cands))
    return cfg, out


def test_lr_ships_when_the_logit_is_linear(runs):
    _, out = runs
    rep = out["linear"][2]
    assert rep["shipped"] == "lr"
    valid = {k: c["valid_logloss"] for k, c in rep["candidates"].items()}
    assert valid["lr"] == min(valid.values()) and set(valid) == {"lr", "xgboost", "gbdt_lr"}
    sig = json.loads((out["linear"][1] / "signature.json").read_text())
    assert sig["model"]["kind"] == "lr" and sig["xgboost"] is None
    assert not (out["linear"][1] / "model.ubj").exists()


def test_trees_ship_when_there_is_an_interaction(runs):
    _, out = runs
    assert out["xor"][2]["shipped"] in ("xgboost", "gbdt_lr")
    rep = out["xor_trees_only"][2]
    assert rep["shipped"] == "xgboost" and set(rep["candidates"]) == {"lr", "xgboost"}
    c = rep["candidates"]
    assert c["xgboost"]["valid_logloss"] < c["lr"]["valid_logloss"]
    assert c["lr"]["shipped_minus_this"]["logloss"]["high"] < 0  # and on test, beyond noise


@pytest.mark.parametrize("kind", ["linear", "xor"])
def test_every_shipped_kind_scores_the_same_through_the_serving_scorer(runs, kind, tmp_path):
    cfg, out = runs
    ds, d, rep = out[kind]
    sc = OnnxScorer(d)
    hold = pd.read_parquet(d / "holdout.parquet")
    p = sc.score(hold[sc.features].to_numpy(np.float32))
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert json.loads((d / "signature.json").read_text())["parity"]["max_abs_diff"] <= 1e-5
    again = run_evaluate(cfg, d, ds, tmp_path / "eval")
    assert again["logloss"] == pytest.approx(rep["logloss"], abs=1e-5)
    assert run_export(cfg, d)["parity"]["max_abs_diff"] <= 1e-5  # re-export from the folder alone



@pytest.mark.parametrize("kind", ["linear", "xor", "xor_trees_only"])
def test_a_rows_score_does_not_depend_on_the_rows_scored_with_it(runs, kind):
    """The batched scoring step (udfs/core/scoring_batch.py) scores many requests' rows in one
    call and takes each request's back: every shipped kind must give a row the same bits
    whatever the call's other rows and their number."""
    _, out = runs
    sc = OnnxScorer(out[kind][1])
    X = pd.read_parquet(out[kind][1] / "holdout.parquet")[sc.features].to_numpy(np.float32)[:400]
    whole = sc.score(X)
    cuts = [0, 1, 3, 100, 101, 233, 400]
    parts = np.concatenate([sc.score(X[a:b]) for a, b in zip(cuts, cuts[1:])])
    assert np.array_equal(whole, parts)
    assert np.array_equal(sc.score(X[::-1])[::-1], whole)

def test_report_shows_every_candidate_with_paired_cis(runs):
    _, out = runs
    ds, d, rep = out["linear"]
    saved = json.loads((d / "report.json").read_text())
    assert saved["shipped"] == rep["shipped"] and "validation log loss" in saved["why"]
    for name, c in saved["candidates"].items():
        assert {"auc", "logloss", "ece", "valid_logloss", "calibration", "exportable"} <= set(c)
        assert c["ece_ci"]["low"] <= c["ece_ci"]["high"]
        if name != saved["shipped"]:
            for m in ("auc", "logloss"):
                ci = c["shipped_minus_this"][m]
                assert ci["low"] <= ci["high"] and ci["n_boot"] > 0
    cc = saved["calibration_check"]
    assert cc["ok"] is True and cc["ece_noise_floor"]["mean"] > 0
    assert "model_minus_this" in saved["baselines"]["lr"]
    html = (d / "report.html").read_text()
    assert "Candidates (chosen on validation" in html and "gbdt_lr" in html


def _blobs(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32) * np.array([1, 10, 100, 0.1], dtype=np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    z = -1 + np.nan_to_num(X[:, 0]) + 0.05 * np.nan_to_num(X[:, 1])
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


@pytest.mark.parametrize("cal", [{"method": "none", "shift": 0.0},
                                 {"method": "platt", "a": 0.8, "b": 0.1, "shift": 0.0},
                                 {"method": "isotonic", "shift": 0.0, "x": [0.0, 0.5, 1.0], "y": [0.0, 0.4, 1.0]}])
def test_lr_graph_has_parity_and_a_wrong_one_is_caught(cal):
    X, y = _blobs()
    m = linear.fit(X[:2000], y[:2000], C=1.0)
    model_bytes, stored = select.graph_of("lr", m, X.shape[1])(cal)
    assert stored["in_graph"] is (cal["method"] != "isotonic")
    assert export.check_parity(m.predict, model_bytes, X, 1e-5, stored) <= 1e-5
    bad = onnx.load_from_string(model_bytes)
    w = next(t for t in bad.graph.initializer if t.name == "w")
    w.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(w) * 1.01, "w"))
    with pytest.raises(ModelError, match="parity"):
        export.check_parity(m.predict, bad.SerializeToString(), X, 1e-5, stored)


def test_gbdt_lr_graph_is_the_lr_on_leaves():
    import xgboost as xgb

    X, y = _blobs()
    b = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=y), 15)
    m = leaves.fit(b, X[:2000], y[:2000], C=0.3)
    L = leaves.leaf_ids(b, X[:5])
    manual = m.b + sum(m.weights[t][L[:, t]] for t in range(L.shape[1]))
    np.testing.assert_allclose(m.logit(X[:5]), manual)
    cal = {"method": "platt", "a": 1.1, "b": -0.05, "shift": 0.0}
    model_bytes, stored = select.graph_of("gbdt_lr", m, X.shape[1])(cal)
    assert export.check_parity(m.predict, model_bytes, X, 1e-5, stored) <= 1e-5
    np.testing.assert_allclose(leaves.to_booster(m).inplace_predict(X), m.predict(X), atol=1e-6)


def _cand(name, loss, error=None):
    return select.Candidate(name, lambda X: X, {"method": "none"}, {}, loss, {}, None, export_error=error)


def test_choose_takes_the_lowest_exportable_validation_loss():
    win, why = select.choose([_cand("lr", 0.50), _cand("xgboost", 0.49), _cand("gbdt_lr", 0.48, "parity")])
    assert win.name == "xgboost" and "gbdt_lr" in why and "not selectable" in why
    assert select.choose([_cand("xgboost", 0.5), _cand("lr", 0.5)])[0].name == "lr"  # tie: the simpler
    with pytest.raises(ModelError, match="no candidate"):
        select.choose([_cand("lr", 0.5, "broken")])
