"""ONNX export behind a parity gate, and the ``signature.json`` that travels with it.

The graph's ``probabilities[:, 1]`` is the calibrated click probability when the
calibrator is a logit-affine map (``none``/``platt``, see ``models.calibrate``):
it is folded into the trees — every leaf weight times ``a``, the intercept
moved — so serving pays nothing for it. An isotonic calibrator cannot be
folded; the graph then outputs raw probabilities and the scorer applies the
knots from the signature (``calibration.in_graph`` says which). Export fails — nothing is written — unless onnxruntime reproduces
training's own predictions on the whole test block within ``tolerance`` (1e-5 by default): a
converter bug or a float/NaN handling difference must never reach serving.
``write_model`` is that gate for any graph (the logistic-regression and GBDT+LR
candidates of models/select.py use it); ``export`` is the XGBoost path through it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import xgboost as xgb
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

from models import calibrate
from models.jsonio import write_json
from udfs.errors import ModelError
from udfs.core.features import model_features, served_profile_features
from udfs.core.model_store import MODEL, SIGNATURE

INPUT = "input"
OUTPUT = "probabilities"
OPSET = 15  # the newest ai.onnx opset onnxmltools' XGBoost converter supports


def to_onnx(booster: xgb.Booster, n_features: int) -> bytes:
    """Serialized ONNX model of ``booster`` (feature names dropped: the converter wants f0..fn)."""
    b = booster.copy()
    b.feature_names = None
    b.feature_types = None
    model = convert_xgboost(b, initial_types=[(INPUT, FloatTensorType([None, n_features]))],
                            target_opset=OPSET)
    return model.SerializeToString()


def session(model_bytes: bytes, threads: int = 1) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def onnx_raw(sess: ort.InferenceSession, X: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT], {INPUT: np.ascontiguousarray(X, dtype=np.float32)})[0][:, 1]


def fold_calibration(model_bytes: bytes, cal: dict | None) -> tuple[bytes, dict | None]:
    """Fold a ``none``/``platt`` calibrator into the tree ensemble; isotonic is returned untouched."""
    if not cal or cal["method"] not in ("none", "platt"):
        return model_bytes, (dict(cal, in_graph=False) if cal else None)
    a = float(cal.get("a", 1.0)) if cal["method"] == "platt" else 1.0
    b = float(cal.get("b", 0.0)) if cal["method"] == "platt" else 0.0
    shift = float(cal.get("shift", 0.0))
    model = onnx.load_from_string(model_bytes)
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {x.name: x for x in node.attribute}
    if attrs["post_transform"].s != b"LOGISTIC" or len(attrs["base_values"].floats) != 1:
        raise ModelError("cannot fold calibration: unexpected tree ensemble layout")
    w = np.asarray(attrs["class_weights"].floats, dtype=np.float64) * a
    del attrs["class_weights"].floats[:]
    attrs["class_weights"].floats.extend(w.astype(np.float32).tolist())
    base = a * (attrs["base_values"].floats[0] - shift) + b
    attrs["base_values"].floats[0] = base
    return model.SerializeToString(), dict(cal, in_graph=True)


def check_parity(reference, model_bytes: bytes, X: np.ndarray, tolerance: float = 1e-5,
                 calibration: dict | None = None) -> float:
    """max |reference − onnxruntime| over ``X`` (calibrated the same way); ``ModelError`` above ``tolerance``.

    ``reference``: an XGBoost booster, or any function of ``X`` giving the model's raw
    probabilities in training's own code (numpy), which the graph must reproduce.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    try:
        got = onnx_raw(session(model_bytes), X)
    except Exception as e:  # an unloadable graph fails the gate like a wrong one
        raise ModelError(f"ONNX parity check could not run the exported model: {e}") from e
    want = reference.inplace_predict(X) if hasattr(reference, "inplace_predict") else reference(X)
    if calibration and calibration.get("in_graph"):
        want = calibrate.apply(calibration, want)
    if got.shape != want.shape:
        raise ModelError(f"ONNX parity: shape {got.shape} != xgboost {want.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - want))) if len(X) else 0.0
    if not np.isfinite(diff) or diff > tolerance:
        raise ModelError(f"ONNX parity check failed: max |training - onnxruntime| = {diff:.3g} "
                         f"> {tolerance:g} over {len(X)} rows; not exporting")
    return diff


def feature_entries(names: list[str], live_windows: tuple[int, ...] | None) -> list[dict]:
    """Ordered inputs with types and defaults (live: from ``udfs.core.features``; else NaN = missing)."""
    if live_windows is not None:
        return [{"name": f.name, "type": "float32", "default": f.default, "doc": f.doc}
                for f in model_features(live_windows)]
    return [{"name": n, "type": "float32", "default": None} for n in names]


def signature(*, names: list[str], live_windows: tuple[int, ...] | None, feature_service: str | None,
              fingerprint: str, dataset: str, metrics: dict, calibration: dict, parity: dict,
              booster: xgb.Booster | None, params: dict, model_bytes: bytes, model: dict | None = None) -> dict:
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return {
        "model_version": "m-" + hashlib.sha256(model_bytes).hexdigest()[:12],
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "format": {"file": MODEL, "input": INPUT, "output": f"{OUTPUT}[:, 1]",
                   "opset": OPSET, "dtype": "float32"},
        "features": feature_entries(names, live_windows),
        "live_features": live_windows is not None,
        "windows_s": list(live_windows) if live_windows is not None else None,
        "feature_service": feature_service if live_windows is not None else None,
        "served_profile_features": served_profile_features(live_windows) if live_windows else [],
        "dataset": dataset,
        "training_data_fingerprint": fingerprint,
        "metrics": metrics,
        "calibration": calibration,
        "parity": parity,
        # what was shipped (models/select.py), with what re-export needs for non-tree kinds
        "model": model or {"kind": "xgboost"},
        "xgboost": ({"version": xgb.__version__, "trees": booster.num_boosted_rounds(), "params": params}
                    if booster is not None else None),
    }


def export(out_dir: str | Path, booster: xgb.Booster, X_test: np.ndarray, *, tolerance: float = 1e-5,
           **sig) -> dict:
    """Convert, check parity on ``X_test``, then write ``model.onnx``, ``model.ubj``, ``signature.json``."""
    model_bytes, sig["calibration"] = fold_calibration(to_onnx(booster, X_test.shape[1]), sig.get("calibration"))
    return write_model(out_dir, model_bytes, booster, X_test, tolerance=tolerance, booster=booster, **sig)


def write_model(out_dir: str | Path, model_bytes: bytes, reference, X_test: np.ndarray, *,
                tolerance: float = 1e-5, booster: xgb.Booster | None = None, **sig) -> dict:
    """Check ``model_bytes`` (calibration already in ``sig``) against ``reference`` on ``X_test``, then
    write ``model.onnx``, ``signature.json`` and, when there are trees, ``model.ubj``. Nothing on failure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = X_test.shape[1]
    onnx.checker.check_model(onnx.load_from_string(model_bytes))
    diff = check_parity(reference, model_bytes, X_test, tolerance, sig["calibration"])
    s = signature(booster=booster, model_bytes=model_bytes,
                  parity={"max_abs_diff": diff, "tolerance": tolerance, "rows": int(len(X_test))}, **sig)
    listed = [f["name"] for f in s["features"]]
    if len(listed) != n or listed != list(sig["names"]):
        raise ModelError(f"signature lists {len(listed)} features {listed[:3]}... but the model "
                         f"was trained on {n}: {list(sig['names'])[:3]}...")
    tmp = out / f".{MODEL}.tmp"
    tmp.write_bytes(model_bytes)
    os.replace(tmp, out / MODEL)
    if booster is not None:
        booster.save_model(str(out / "model.ubj"))
    elif (out / "model.ubj").exists():
        (out / "model.ubj").unlink()  # a stale booster must not pass for this model's original
    write_json(out / SIGNATURE, s)
    return s
