"""Logistic regression on the model's own float inputs, exportable as a small ONNX graph.

The report's ``lr`` baseline (models/baselines.py) also one-hot encodes the raw
category strings; those are not model inputs (the signature lists floats only),
so it cannot be served. This candidate sees exactly the served feature vector:
per column, a missing value is imputed with the training median and flagged,
the value is signed-log transformed (``sign(x)·log(1 + |x|)``: counts and prices
span orders of magnitude) and standardised. The ordered target statistics of
categorical columns (``<col>_te``) carry the categories' click history, so
this is the one-hot LR's information in two floats per column.

The ONNX graph does the same steps with plain ai.onnx ops (IsNaN, Where, Abs,
Log, Sign, MatMul, Sigmoid) and outputs ``probabilities`` as ``[1 - p, p]``,
the layout of the tree ensemble's output, so the scorer cannot tell them apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = "input"
OUTPUT = "probabilities"
OPSET = 15
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class Linear:
    """``logit = b + Σ w·std(slog(impute(x))) + Σ v·isnan(x)``, with the fitted numbers."""
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    w: np.ndarray
    v: np.ndarray
    b: float
    C: float

    def logit(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        nan = np.isnan(X)
        z = (_signed_log(np.where(nan, self.median, X)) - self.mean) / self.scale
        return z @ self.w + nan.astype(np.float64) @ self.v + self.b

    def predict(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def folded(self, a: float, b: float) -> "Linear":
        """The same model with ``sigmoid(a·logit + b)`` built in (a logit-affine calibrator)."""
        return Linear(self.median, self.mean, self.scale, self.w * a, self.v * a, a * self.b + b, self.C)

    def to_dict(self) -> dict:
        return {"median": self.median.tolist(), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "w": self.w.tolist(), "v": self.v.tolist(), "b": self.b, "C": self.C}

    @classmethod
    def from_dict(cls, d: dict) -> "Linear":
        arr = {k: np.asarray(d[k], dtype=np.float64) for k in ("median", "mean", "scale", "w", "v")}
        return cls(**arr, b=float(d["b"]), C=float(d["C"]))


def _design(X: np.ndarray, median: np.ndarray, mean=None, scale=None):
    nan = np.isnan(X)
    z = _signed_log(np.where(nan, median, X))
    if mean is None:
        mean = z.mean(axis=0)
        scale = z.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
    return np.hstack([(z - mean) / scale, nan.astype(np.float64)]), mean, scale


def fit(X: np.ndarray, y: np.ndarray, C: float, seed: int = 0) -> Linear:
    """L2-regularised LR on ``X`` (rows of the training block) with inverse strength ``C``."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=np.float64)
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
    median = np.where(np.isnan(median), 0.0, median)
    D, mean, scale = _design(X, median)
    m = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(D, y)
    d = X.shape[1]
    return Linear(median, mean, scale, m.coef_[0, :d].copy(), m.coef_[0, d:].copy(),
                  float(m.intercept_[0]), C)


def fit_tuned(X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, seed: int = 0,
              grid=C_GRID) -> tuple[Linear, dict[float, float]]:
    """The ``C`` with the lowest validation log loss, fitted on ``tr``; and each C's loss."""
    from models.metrics import logloss

    best, scores = None, {}
    for C in grid:
        m = fit(X[tr], y[tr], C, seed)
        scores[C] = logloss(y[va], m.predict(X[va]))
        if best is None or scores[C] < scores[best.C]:
            best = m
    return best, scores


def _const(name: str, a: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def logit_nodes(m: Linear, out: str = "logit") -> tuple[list, list]:
    """Nodes and initialisers computing ``m.logit`` of ``INPUT`` into ``out`` (n, 1).

    Shared with the blend's graph (models/blend.py), which adds a tree ensemble's margin to it.
    """
    d = len(m.w)
    n = helper.make_node
    nodes = [
        n("IsNaN", [INPUT], ["nan"]),
        n("Where", ["nan", "median", INPUT], ["imputed"]),
        n("Abs", ["imputed"], ["abs"]),
        n("Add", ["abs", "one"], ["abs1"]),
        n("Log", ["abs1"], ["log"]),
        n("Sign", ["imputed"], ["sign"]),
        n("Mul", ["sign", "log"], ["slog"]),
        n("Sub", ["slog", "mean"], ["centred"]),
        n("Div", ["centred", "scale"], ["z"]),
        n("MatMul", ["z", "w"], ["zw"]),
        n("Cast", ["nan"], ["nanf"], to=TensorProto.FLOAT),
        n("MatMul", ["nanf", "v"], ["nv"]),
        n("Add", ["zw", "nv"], ["lin"]),
        n("Add", ["lin", "b"], [out]),
    ]
    init = [_const("median", m.median), _const("mean", m.mean), _const("scale", m.scale),
            _const("w", m.w.reshape(d, 1)), _const("v", m.v.reshape(d, 1)),
            _const("b", np.array([m.b])), _const("one", np.array([1.0]))]
    return nodes, init


def probability_nodes(logit: str) -> list:
    """``logit`` (n, 1) -> ``OUTPUT`` ``[1 - p, p]``, the tree ensemble's layout (needs ``one``)."""
    n = helper.make_node
    return [n("Sigmoid", [logit], ["p1"]), n("Sub", ["one", "p1"], ["p0"]),
            n("Concat", ["p0", "p1"], [OUTPUT], axis=1)]


def model_of(nodes: list, init: list, d: int, name: str, opsets: dict[str, int] | None = None) -> bytes:
    """A checked ONNX model: float32 ``(n, d)`` ``INPUT`` -> ``(n, 2)`` ``OUTPUT``."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, d])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 2])], init)
    ops = [helper.make_opsetid(dom, v) for dom, v in (opsets or {"": OPSET}).items()]
    model = helper.make_model(graph, opset_imports=ops, producer_name="adstream")
    model.ir_version = 8  # what onnxruntime reads for opset 15
    onnx.checker.check_model(model)
    return model.SerializeToString()


def to_onnx(m: Linear) -> bytes:
    """The graph of ``m.predict`` over a float32 ``(n, d)`` input; output ``(n, 2)``."""
    nodes, init = logit_nodes(m)
    return model_of(nodes + probability_nodes("logit"), init, len(m.w), "logistic_regression")
