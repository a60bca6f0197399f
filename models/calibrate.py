"""Post-hoc calibration, chosen on validation data and stored as plain numbers.

A calibrator is a small dict kept in ``signature.json``; its forms (``shift``,
``none``, ``platt``, ``isotonic``) and ``apply`` live in udfs/core/calibration.py, which
the serving scorer uses too, so training and serving calibrate identically. This
module is the training side: ``fit`` one form, ``choose`` between them.

``choose`` fits each candidate on one half of the validation block and scores
log loss on the other (both ways), keeps the best and refits it on all of it.
Isotonic competes only with at least ``MIN_ISOTONIC_POSITIVES`` clicks in the
validation block (it is the flexible one, and overfits scarce clicks).
"""
from __future__ import annotations

import math

import numpy as np

from udfs.core.calibration import EPS, METHODS, apply, logit, sigmoid  # apply: also calibrate.apply to train/export

MIN_ISOTONIC_POSITIVES = 200


def fit(method: str, y: np.ndarray, p_raw: np.ndarray, pos_weight: float = 1.0) -> dict:
    from sklearn.isotonic import IsotonicRegression  # training only: the scorer needs just apply()
    from sklearn.linear_model import LogisticRegression

    shift = math.log(pos_weight) if pos_weight > 0 else 0.0
    cal: dict = {"method": method, "shift": shift}
    z = logit(p_raw) - shift
    if method == "platt":
        if len(np.unique(y)) < 2:
            cal.update(method="none")
            return cal
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
        cal.update(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    elif method == "isotonic":
        iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(sigmoid(z), y)
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
