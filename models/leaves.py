"""GBDT+LR (He et al., "Practical Lessons from Predicting Clicks on Ads at Facebook", 2014).

The boosted trees are used as a feature transform: each row becomes the one-hot
vector of the leaf it reaches in every tree, and an L2-regularised logistic
regression learns one weight per leaf. Because the features are one-hot per
tree, ``logit = b + Σ_t w[t, leaf_t(x)]`` — which *is* an additive tree
ensemble with the LR's weights as leaf values. So the model is written back as
an XGBoost booster (``to_booster``: same splits, same missing-value routing,
leaf values and intercept replaced by the LR's) and exported by the same
converter as the plain booster; the parity check compares that graph with the
LR computed here from the leaf indices, so a mistake in the rewrite fails it.
A leaf no training row reached gets weight 0 (the LR never saw it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xgboost as xgb
from scipy import sparse

from udfs.errors import ModelError

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def leaf_ids(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """``(n, trees)`` leaf node ids (XGBoost's node numbering, the one the ONNX graph keeps)."""
    d = xgb.DMatrix(np.asarray(X, dtype=np.float32), feature_names=booster.feature_names)
    return booster.predict(d, pred_leaf=True).reshape(len(X), -1).astype(np.int64)


@dataclass
class LeafLR:
    booster: xgb.Booster
    weights: list[np.ndarray]   # per tree: weight by node id (0 for nodes no row reached)
    b: float
    C: float

    def logit(self, X: np.ndarray) -> np.ndarray:
        L = leaf_ids(self.booster, X)
        return self.b + sum(w[L[:, t]] for t, w in enumerate(self.weights))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))



def _onehot(L: np.ndarray, width: list[int]) -> sparse.csr_matrix:
    offs = np.concatenate([[0], np.cumsum(width)[:-1]])
    cols = (L + offs).ravel()
    rows = np.repeat(np.arange(len(L)), L.shape[1])
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(L), int(sum(width))))


def _widths(booster: xgb.Booster) -> list[int]:
    """Node-id range per tree (ids are dense from 0 within a tree)."""
    df = booster.trees_to_dataframe()
    return [int(n) + 1 for n in df.groupby("Tree")["Node"].max().sort_index()]


def fit(booster: xgb.Booster, X: np.ndarray, y: np.ndarray, C: float, seed: int = 0) -> LeafLR:
    from sklearn.linear_model import LogisticRegression

    width = _widths(booster)
    m = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(
        _onehot(leaf_ids(booster, X), width), y)
    coef = m.coef_[0]
    offs = np.concatenate([[0], np.cumsum(width)])
    weights = [coef[offs[t]:offs[t + 1]].astype(np.float64).copy() for t in range(len(width))]
    return LeafLR(booster, weights, float(m.intercept_[0]), C)


def fit_tuned(booster: xgb.Booster, X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray,
              seed: int = 0, grid=C_GRID) -> tuple[LeafLR, dict[float, float]]:
    """The LR on ``booster``'s leaves with the ``C`` of lowest validation log loss."""
    from models.metrics import logloss

    best, scores = None, {}
    for C in grid:
        m = fit(booster, X[tr], y[tr], C, seed)
        scores[C] = logloss(y[va], m.predict(X[va]))
        if best is None or scores[C] < scores[best.C]:
            best = m
    return best, scores


def to_booster(m: LeafLR) -> xgb.Booster:
    """``m`` as an XGBoost booster: leaf values = LR weights, base score = sigmoid(LR intercept)."""
    j = json.loads(m.booster.save_raw("json"))
    trees = j["learner"]["gradient_booster"]["model"]["trees"]
    if len(trees) != len(m.weights):
        raise ModelError(f"GBDT+LR: {len(trees)} trees in the booster, {len(m.weights)} weight sets")
    for t, w in zip(trees, m.weights):
        for i, left in enumerate(t["left_children"]):
            if left == -1:
                v = float(w[i]) if i < len(w) else 0.0
                t["split_conditions"][i] = v
                t["base_weights"][i] = v
    j["learner"]["learner_model_param"]["base_score"] = f"[{1.0 / (1.0 + np.exp(-m.b)):.9E}]"
    return xgb.Booster(model_file=bytearray(json.dumps(j).encode()))
