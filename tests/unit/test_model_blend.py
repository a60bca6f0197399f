"""The blend candidate: one ONNX graph equal to its Python predict, its endpoints are the parents,
its weight is chosen on the training block's folds and never on the validation rows, and it
goes through the pipeline (export, serving scorer, re-export) like the others."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
import xgboost as xgb

from models import blend, calibrate, export, linear, select
from models.metrics import logloss
from models.pipeline import run_evaluate, run_export, run_train
from models.split import Split, forward_folds
from models.train import TrainResult
from tests.support.model_fixtures import model_config
from tests.unit.test_model_select import _ds
from udfs.errors import ModelError
from udfs.io.onnx_scorer import OnnxScorer

pytestmark = pytest.mark.unit

PARAMS = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}


def _data(n=3000, seed=0):
    """A linear part plus an interaction, with missing values and columns of very different scale."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32) * np.array([1, 10, 100, 0.1], dtype=np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    a, b = np.nan_to_num(X[:, 0]), np.nan_to_num(X[:, 1]) / 10
    z = -1 + a + 1.5 * np.sign(a * b)
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


@pytest.fixture(scope="module")
def parents():
    """A booster trained with up-weighted clicks (so the shift matters) and an LR."""
    X, y = _data()
    w = 3.0
    b = xgb.train({**PARAMS, "scale_pos_weight": w}, xgb.DMatrix(X[:2000], label=y[:2000]), 20)
    return X, y, b, linear.fit(X[:2000], y[:2000], C=1.0), float(np.log(w))


CALS = [{"method": "none", "shift": 0.0},
        {"method": "platt", "a": 0.8, "b": 0.1, "shift": 0.0},
        {"method": "platt", "a": 1.2, "b": -0.2, "shift": 0.3},
        {"method": "isotonic", "shift": 0.0, "x": [0.0, 0.5, 1.0], "y": [0.0, 0.4, 1.0]}]


@pytest.mark.parametrize("cal", CALS)
@pytest.mark.parametrize("alpha", [0.35, 0.8])
def test_blend_graph_equals_its_python_predict(parents, alpha, cal):
    X, _, b, m, shift = parents
    bm = blend.Blend(b, m, alpha, shift)
    model_bytes, stored = select.graph_of("blend", bm, X.shape[1])(cal)
    assert stored["in_graph"] is (cal["method"] != "isotonic")
    g = onnx.load_from_string(model_bytes).graph  # the signature every candidate has
    assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["probabilities"]
    assert g.input[0].type.tensor_type.shape.dim[1].dim_value == X.shape[1]
    rng = np.random.default_rng(1)
    R = (rng.normal(size=(2000, 4)) * np.array([1, 10, 100, 0.1]) * 2).astype(np.float32)
    R[rng.random(R.shape) < 0.15] = np.nan
    for rows in (X, R):
        assert export.check_parity(bm.predict, model_bytes, rows, 1e-5, stored) <= 1e-5
    out = export.session(model_bytes).run(None, {"input": R})
    probs = next(o for o in out if o.ndim == 2)
    assert probs.shape == (len(R), 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("part", ["tree", "lr"])
def test_a_wrong_blend_graph_is_caught(parents, part):
    X, _, b, m, shift = parents
    bm = blend.Blend(b, m, 0.5, shift)
    model_bytes, stored = blend.graph(bm, X.shape[1], {"method": "none", "shift": 0.0})
    bad = onnx.load_from_string(model_bytes)
    if part == "tree":
        node = next(n for n in bad.graph.node if n.op_type == "TreeEnsembleRegressor")
        w = next(a for a in node.attribute if a.name == "target_weights")
        w.floats[:] = [v * 1.05 for v in w.floats]
    else:
        t = next(t for t in bad.graph.initializer if t.name == "w")
        t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t) * 1.05, "w"))
    with pytest.raises(ModelError, match="parity"):
        export.check_parity(bm.predict, bad.SerializeToString(), X, 1e-5, stored)


def test_alpha_0_is_lr_and_alpha_1_is_xgboost(parents):
    X, _, b, m, shift = parents
    none = {"method": "none", "shift": 0.0}
    xgb_cal = {"method": "none", "shift": shift}  # the xgboost candidate's own uncalibrated output
    want = {0.0: m.predict(X), 1.0: calibrate.apply(xgb_cal, b.inplace_predict(X))}
    onnx_want = {0.0: export.onnx_raw(export.session(linear.to_onnx(m)), X),
                 1.0: export.onnx_raw(export.session(export.fold_calibration(
                     export.to_onnx(b, X.shape[1]), xgb_cal)[0]), X)}
    for alpha in (0.0, 1.0):
        bm = blend.Blend(b, m, alpha, shift)
        # 1e-6: xgboost's own probabilities are float32, the blend's margin path is not
        np.testing.assert_allclose(bm.predict(X), want[alpha], rtol=0, atol=1e-6)
        got = export.onnx_raw(export.session(blend.graph(bm, X.shape[1], none)[0]), X)
        np.testing.assert_allclose(got, onnx_want[alpha], rtol=0, atol=2e-6)
    assert not np.allclose(want[0.0], want[1.0], atol=1e-3)  # the two parents do differ here


def test_choose_alpha_takes_the_lowest_pooled_loss_and_refuses_no_folds():
    rng = np.random.default_rng(0)
    zt, zl = rng.normal(size=2000), rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(0.3 * zt + 0.7 * zl)))).astype(int)
    alpha, scores = blend.choose_alpha([(y[:1000], zt[:1000], zl[:1000]), (y[1000:], zt[1000:], zl[1000:])])
    assert len(scores) == 21 and scores[f"{alpha:.2f}"] == min(scores.values())
    assert 0.1 <= alpha <= 0.5
    with pytest.raises(ModelError, match="no forward-chaining fold"):
        blend.choose_alpha([])


def _drifting(n=6000, seed=3):
    """Training block: clicks follow an interaction (trees right, LR useless). Validation block:
    the opposite interaction, so there the LR's flat guess beats the trees by far."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    s = np.sign(X[:, 0] * X[:, 1])
    split = Split(np.arange(0, 4200), np.arange(4200, 5100), np.arange(5100, n))
    s[split.valid] *= -1
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 2.0 * s)))).astype(int)
    return X, y, split, np.arange(n) * 1000


def _result(X, y, split, ts, folds):
    def fit(rows):
        return xgb.train(PARAMS, xgb.DMatrix(X[rows], label=y[rows]), 30)
    b = fit(split.train)
    fold = [(p, nxt, fit(p)) for p, nxt in forward_folds(split.train, ts, folds)]
    raw = b.inplace_predict(X[split.valid])
    return TrainResult(b, {}, 30, 1.0, {"method": "none", "shift": 0.0}, {}, folds=fold, raw_valid=raw)


def test_alpha_is_chosen_on_the_folds_not_on_the_validation_rows():
    X, y, split, ts = _drifting()
    res = _result(X, y, split, ts, 3)
    cands = {c.name: c for c in select.fit_candidates(res, X, y, split, ts, folds=3, seed=0,
                                                      names=("lr", "xgboost", "blend"))}
    c = cands["blend"]
    alpha = c.info["alpha"]
    assert c.info["alpha_rows"] <= len(split.train) and c.info["alpha_folds"] >= 2
    # what α the validation rows would have picked: the other end of the grid
    lin = select._lr_parts(X, y, split, ts, 3, 0)[0]
    on_valid = {a: logloss(y[split.valid], blend.Blend(res.booster, lin, a, 0.0).predict(X[split.valid]))
                for a in blend.ALPHAS}
    assert alpha >= 0.8 and min(on_valid, key=on_valid.get) <= 0.2
    # the reported validation loss is that of the fold-chosen α, cross-fitted calibrator as for all
    raw = c.raw(X[split.valid])
    np.testing.assert_allclose(raw, blend.Blend(res.booster, lin, alpha, 0.0).predict(X[split.valid]))
    assert c.valid_logloss == pytest.approx(select.crossfit_logloss(y[split.valid], raw, c.calibration["method"], 1.0))
    assert c.valid_logloss > min(on_valid.values())  # not flattered by the validation rows
    win, _ = select.choose(list(cands.values()))
    assert win.valid_logloss == min(x.valid_logloss for x in cands.values() if x.exportable)


def _cand(name, loss, error=None):
    return select.Candidate(name, lambda X: X, {"method": "none"}, {}, loss, {}, None, export_error=error)


def test_selection_never_ships_a_worse_validation_loss():
    rng = np.random.default_rng(0)
    for _ in range(300):
        losses = np.round(rng.uniform(0.4, 0.5, 4), 2)  # rounded: ties happen
        errs = [None if rng.random() < 0.8 else "parity" for _ in select.ORDER]
        if all(errs):
            continue
        cands = [_cand(n, float(v), e) for n, v, e in zip(select.ORDER, losses, errs)]
        win, _ = select.choose(cands)
        ok = [c for c in cands if c.exportable]
        assert win.exportable and win.valid_logloss == min(c.valid_logloss for c in ok)
        assert win is next(c for c in ok if c.valid_logloss == win.valid_logloss)  # ties: simpler first
    assert select.ORDER[-1] == "blend"
    assert select.choose([_cand("blend", 0.5), _cand("lr", 0.5)])[0].name == "lr"


def test_blend_ships_and_serves_like_the_others(tmp_path):
    cfg = model_config(max_rounds=100, early_stopping_rounds=10)
    ds = _ds("xor")
    d = tmp_path / "blend"
    rep = run_train(cfg, ds, d, budget=1, progress=False, candidates=("lr", "blend"))
    c = rep["candidates"]
    assert set(c) == {"lr", "blend"} and c["blend"]["exportable"] and 0 <= c["blend"]["info"]["alpha"] <= 1
    rep = run_train(cfg, ds, d, budget=1, progress=False, candidates=("blend",))
    sig = json.loads((d / "signature.json").read_text())
    assert sig["model"]["kind"] == "blend" and (d / "model.ubj").exists()
    assert sig["parity"]["max_abs_diff"] <= 1e-5
    sc = OnnxScorer(d)
    hold = pd.read_parquet(d / "holdout.parquet")
    p = sc.score(hold[sc.features].to_numpy(np.float32))
    assert logloss(hold["label"].to_numpy(), p) == pytest.approx(rep["logloss"], abs=1e-5)
    assert run_evaluate(cfg, d, ds, tmp_path / "eval")["logloss"] == pytest.approx(rep["logloss"], abs=1e-5)
    assert run_export(cfg, d)["parity"]["max_abs_diff"] <= 1e-5
    assert "blend" in (d / "report.html").read_text()
