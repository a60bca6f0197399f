"""Applying a model's calibration: the plain numbers in ``signature.json`` → probabilities.

The calibrator is chosen and fitted at training time (models/calibrate.py) and applied
here, after the ONNX graph, by the serving scorer and by training alike — one function,
so both compute the same probability. Its forms:

- ``shift``: ``log(pos_weight)`` subtracted from the logit — undoes the odds
  inflation of up-weighting clicks (prior correction), exact for a logistic model;
- ``none``: just that correction;
- ``platt``: ``sigmoid(a * z + b)`` on the corrected logit ``z``;
- ``isotonic``: a monotone piecewise-linear map of the corrected probability
  (knots ``x``/``y``, interpolated with ``np.interp``).

Pure numpy.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before taking logits

METHODS = ("none", "platt", "isotonic")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def apply(cal: dict | None, p_raw: np.ndarray) -> np.ndarray:
    """Calibrated probabilities from the model's raw ones (float64)."""
    if not cal:
        return np.asarray(p_raw, dtype=np.float64)
    z = logit(p_raw) - float(cal.get("shift", 0.0))
    m = cal["method"]
    if m == "none":
        return sigmoid(z)
    if m == "platt":
        return sigmoid(cal["a"] * z + cal["b"])
    if m == "isotonic":
        return np.clip(np.interp(sigmoid(z), cal["x"], cal["y"]), EPS, 1 - EPS)
    raise ValueError(f"unknown calibration method {m!r}")
