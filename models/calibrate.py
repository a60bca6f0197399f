"""Post-hoc calibration, chosen on validation data and stored as plain numbers.

A calibrator is a small dict kept in ``signature.json`` and applied after the
ONNX graph by the scorer, identically in training and serving:

- ``shift``: ``log(pos_weight)`` subtracted from the logit — undoes the odds
  inflation of up-weighting clicks (prior correction), exact for a logistic model;
- ``none``: just that correction;
- ``platt``: ``sigmoid(a * z + b)`` on the corrected logit ``z``;
- ``isotonic``: a monotone piecewise-linear map of the corrected probability
  (knots ``x``/``y``, interpolated with ``np.interp``).

``choose`` fits each candidate on one half of the validation block and scores
log loss on the other (both ways), keeps the best and refits it on all of it.
Isotonic competes only with at least ``MIN_ISOTONIC_POSITIVES`` clicks in the
validation block (it is the flexible one, and overfits scarce clicks).
"""
from __future__ import annotations

import math

import numpy as np

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before taking logits

METHODS = ("none", "platt", "isotonic")
MIN_ISOTONIC_POSITIVES = 200


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def apply(cal: dict | None, p_raw: np.ndarray) -> np.ndarray:
    """Calibrated probabilities from the model's raw ones (float64)."""
    if not cal:
        return np.asarray(p_raw, dtype=np.float64)
    z = _logit(p_raw) - float(cal.get("shift", 0.0))
    m = cal["method"]
    if m == "none":
        return _sigmoid(z)
    if m == "platt":
        return _sigmoid(cal["a"] * z + cal["b"])
    if m == "isotonic":
        return np.clip(np.interp(_sigmoid(z), cal["x"], cal["y"]), EPS, 1 - EPS)
    raise ValueError(f"unknown calibration method {m!r}")


def fit(method: str, y: np.ndarray, p_raw: np.ndarray, pos_weight: float = 1.0) -> dict:
    from sklearn.isotonic import IsotonicRegression  # training only: the scorer needs just apply()
    from sklearn.linear_model import LogisticRegression

    shift = math.log(pos_weight) if pos_weight > 0 else 0.0
    cal: dict = {"method": method, "shift": shift}
    z = _logit(p_raw) - shift
    if method == "platt":
        if len(np.unique(y)) < 2:
            cal.update(method="none")
            return cal
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
        cal.update(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    elif method == "isotonic":
        iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(_sigmoid(z), y)
        cal.update(x=[float(v) for v in iso.X_thresholds_], y=[float(v) for v in iso.y_thresholds_])
    elif method != "none":
        raise ValueError(f"unknown calibration method {method!r}")
    return cal


def choose(y: np.ndarray, p_raw: np.ndarray, pos_weight: float = 1.0,
           method: str = "auto") -> tuple[dict, dict[str, float]]:
    """The calibrator to ship, and each candidate's held-out log loss on validation."""
    from models.metrics import logloss

    y = np.asarray(y)
    if method != "auto":
        return fit(method, y, p_raw, pos_weight), {}
    half = len(y) // 2
    a, b = np.arange(half), np.arange(half, len(y))
    scores = {}
    # Isotonic steps need many clicks: with few, a step with no click maps to ~0 and one
    # later click there costs ~16 nats. Below the threshold only the 2-parameter maps compete.
    methods = METHODS if int(np.sum(y)) >= MIN_ISOTONIC_POSITIVES else ("none", "platt")
    for m in methods:
        losses = [logloss(y[te], apply(fit(m, y[tr], p_raw[tr], pos_weight), p_raw[te]))
                  for tr, te in ((a, b), (b, a)) if len(tr) and len(te)]
        scores[m] = float(np.mean(losses)) if losses else float("inf")
    best = min(methods, key=lambda m: (scores[m], METHODS.index(m)))
    return fit(best, y, p_raw, pos_weight), scores
