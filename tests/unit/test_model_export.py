"""Round trip: a tiny model trained in a fixture, exported, loaded by the scorer, same numbers."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
import xgboost as xgb

from models import export, train
from models.pipeline import run_evaluate, run_export, run_train
from tests.support.model_fixtures import live_dataset, model_config
from udfs.errors import ModelError
from udfs.core.features import model_feature_names, served_profile_features
from udfs.io.onnx_scorer import OnnxScorer

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = model_config()
    ds = live_dataset(cfg, 7)
    out = tmp_path_factory.mktemp("model")
    # the tree-export tests below need the booster shipped (tests/unit/test_model_select.py: the others)
    rep = run_train(cfg, ds, out, budget=2, progress=False, candidates=("xgboost",))
    return cfg, ds, out, rep


def test_run_writes_report_and_artifacts(trained):
    cfg, ds, out, rep = trained
    for f in ("report.json", "report.html", "model.onnx", "signature.json", "model.ubj", "holdout.parquet"):
        assert (out / f).exists(), f
    saved = json.loads((out / "report.json").read_text())
    for k in ("auc", "logloss", "normalized_entropy", "ece", "n_train", "n_test"):
        assert isinstance(saved[k], (int, float)), k
    for b in ("lr", "prior"):
        assert {"auc", "logloss"} <= set(saved["baselines"][b])
    assert {"auc", "logloss"} <= set(saved["oracle"])
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_signature_describes_the_live_inputs(trained):
    cfg, ds, out, rep = trained
    sig = json.loads((out / "signature.json").read_text())
    w = cfg.profile.windows.count_windows_s
    assert [f["name"] for f in sig["features"]] == model_feature_names(w)
    assert all(f["type"] == "float32" and "default" in f for f in sig["features"])
    assert sig["feature_service"] == cfg.feast.feature_service
    assert sig["served_profile_features"] == served_profile_features(w)
    assert sig["training_data_fingerprint"] == ds.fingerprint
    assert sig["parity"]["max_abs_diff"] <= 1e-5 and sig["created_at"].endswith("Z")
    assert sig["metrics"]["auc"] == rep["auc"]


def test_scorer_round_trip_matches_training_predictions(trained):
    cfg, ds, out, rep = trained
    sc = OnnxScorer(out)
    hold = pd.read_parquet(out / "holdout.parquet")
    X = hold[sc.features].to_numpy(np.float32)
    booster = xgb.Booster(model_file=str(out / "model.ubj"))
    want = train.predict(booster, sc.calibration, X)
    np.testing.assert_allclose(sc.score(X), want, atol=1e-5)
    assert sc.score(X[:1]).shape == (1,)
    row = sc.row({"position": 2.0})
    assert row.shape == (1, len(sc.features)) and row[0, sc.features.index("position")] == 2.0
    with pytest.raises(ModelError):
        sc.score(X[:, :-1])


def test_parity_failure_is_caught(trained):
    cfg, ds, out, rep = trained
    booster = xgb.Booster(model_file=str(out / "model.ubj"))
    model = onnx.load(str(out / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type.startswith("TreeEnsemble"))
    attr = next(a for a in node.attribute if a.name in ("class_weights", "target_weights"))
    for i in range(len(attr.floats)):  # leaves 1% off: the kind of bug a converter could introduce
        attr.floats[i] *= 1.01
    X = pd.read_parquet(out / "holdout.parquet")[ds.features].to_numpy(np.float32)
    cal = json.loads((out / "signature.json").read_text())["calibration"]
    assert export.check_parity(booster, (out / "model.onnx").read_bytes(), X, 1e-5, cal) <= 1e-5
    with pytest.raises(ModelError, match="parity"):
        export.check_parity(booster, model.SerializeToString(), X, 1e-5, cal)
    with pytest.raises(ModelError):
        export.check_parity(booster, b"not onnx", X, 1e-5, cal)


@pytest.mark.parametrize("cal", [{"method": "none", "shift": 0.7},
                                 {"method": "platt", "a": 0.9, "b": -0.2, "shift": 0.3}])
def test_logit_affine_calibration_is_folded_into_the_graph(trained, cal):
    cfg, ds, out, rep = trained
    booster = xgb.Booster(model_file=str(out / "model.ubj"))
    X = pd.read_parquet(out / "holdout.parquet")[ds.features].to_numpy(np.float32)
    folded, info = export.fold_calibration(export.to_onnx(booster, X.shape[1]), cal)
    assert info["in_graph"] is True
    got = export.onnx_raw(export.session(folded), X)
    np.testing.assert_allclose(got, train.predict(booster, cal, X), atol=1e-6)
    iso = {"method": "isotonic", "shift": 0.0, "x": [0.0, 1.0], "y": [0.0, 1.0]}
    assert export.fold_calibration(b"x", iso)[1]["in_graph"] is False


def test_export_refuses_when_parity_fails(trained, tmp_path, monkeypatch):
    cfg, ds, out, rep = trained
    booster = xgb.Booster(model_file=str(out / "model.ubj"))
    other = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(
        ds.X.to_numpy(np.float32), label=ds.y), 3)
    monkeypatch.setattr(export, "to_onnx", lambda b, n: _convert(other, n))  # a "wrong" converter
    with pytest.raises(ModelError, match="parity"):
        export.export(tmp_path, booster, ds.X.to_numpy(np.float32)[:200], names=ds.features,
                      live_windows=None, feature_service=None, fingerprint="0" * 64, dataset="t",
                      metrics={}, calibration={}, params={})
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "signature.json").exists()


def _convert(b, n):
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    c = b.copy()
    c.feature_names = None
    return convert_xgboost(c, initial_types=[("input", FloatTensorType([None, n]))],
                           target_opset=15).SerializeToString()


def test_reexport_and_reevaluate(trained, tmp_path):
    cfg, ds, out, rep = trained
    sig = run_export(cfg, out)
    assert sig["parity"]["max_abs_diff"] <= 1e-5
    rep2 = run_evaluate(cfg, out, ds, tmp_path)
    assert rep2["auc"] == pytest.approx(rep["auc"], abs=1e-4)


@pytest.mark.parametrize("damage", ["missing", "truncated", "bad_signature"])
def test_scorer_raises_model_error_on_broken_folder(trained, tmp_path, damage):
    cfg, ds, out, rep = trained
    for f in ("model.onnx", "signature.json"):
        (tmp_path / f).write_bytes((out / f).read_bytes())
    if damage == "missing":
        (tmp_path / "model.onnx").unlink()
    elif damage == "truncated":
        data = (tmp_path / "model.onnx").read_bytes()
        (tmp_path / "model.onnx").write_bytes(data[: len(data) // 3])
    else:
        (tmp_path / "signature.json").write_text("{not json")
    with pytest.raises(ModelError):
        OnnxScorer(tmp_path)
