"""Metrics for click models: ranking (AUC), probability quality (log loss, NE, ECE).

- Normalised entropy (He et al., 2014): log loss divided by the entropy of a
  constant prediction at the *training* CTR, so 1.0 = no better than the
  average rate, lower is better, and it is comparable across datasets.
- ECE: expected calibration error over equal-mass bins (each bin holds the
  same number of rows). With CTRs of a few percent, equal-width bins would put
  nearly every row in the first bin and hide miscalibration.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = 1e-7


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties share ranks); NaN when only one class is present."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(p)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def entropy(rate: float) -> float:
    r = min(max(rate, EPS), 1 - EPS)
    return float(-(r * np.log(r) + (1 - r) * np.log(1 - r)))


def normalized_entropy(y: np.ndarray, p: np.ndarray, base_rate: float) -> float:
    return logloss(y, p) / entropy(base_rate)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 15) -> dict[str, list[float]]:
    """Equal-mass bins: mean prediction, observed rate and row count per bin."""
    order = np.argsort(p, kind="stable")
    chunks = [c for c in np.array_split(order, min(bins, len(order))) if len(c)]
    return {"mean_pred": [float(np.mean(p[c])) for c in chunks],
            "observed": [float(np.mean(y[c])) for c in chunks],
            "count": [int(len(c)) for c in chunks]}


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    r = reliability(np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64), bins)
    n = sum(r["count"])
    return float(sum(c * abs(m - o) for m, o, c in zip(r["mean_pred"], r["observed"], r["count"])) / n)


def bootstrap_auc(y: np.ndarray, p: np.ndarray, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> dict[str, float]:
    """Percentile bootstrap CI of AUC (resampling rows); few clicks make it wide."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    p = np.asarray(p)
    n = len(y)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        a = auc(y[i], p[i])
        if not np.isnan(a):
            vals.append(a)
    if not vals:
        return {"low": float("nan"), "high": float("nan"), "n_boot": 0}
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"low": float(lo), "high": float(hi), "n_boot": len(vals), "level": level}


def bootstrap_auc_diff(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Paired bootstrap of AUC(a) − AUC(b) on the same rows: is a better than b, or is it noise?"""
    rng = np.random.default_rng(seed)
    y, p_a, p_b = np.asarray(y), np.asarray(p_a), np.asarray(p_b)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        d = auc(y[i], p_a[i]) - auc(y[i], p_b[i])
        if not np.isnan(d):
            vals.append(d)
    if not vals:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "p_better": float("nan")}
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"diff": auc(y, p_a) - auc(y, p_b), "low": float(lo), "high": float(hi),
            "p_better": float(np.mean(np.asarray(vals) > 0)), "n_boot": len(vals)}


def summary(y: np.ndarray, p: np.ndarray, base_rate: float) -> dict[str, float]:
    return {"auc": auc(y, p), "logloss": logloss(y, p),
            "normalized_entropy": normalized_entropy(y, p, base_rate), "ece": ece(y, p)}


def _row_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(y, dtype=np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _ci(vals, point: float, level: float) -> dict[str, float]:
    v = np.asarray(vals, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return {"diff": point, "low": float("nan"), "high": float("nan"), "n_boot": 0}
    lo, hi = np.quantile(v, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"diff": point, "low": float(lo), "high": float(hi), "n_boot": int(len(v)), "level": level}


def bootstrap_pair(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 1000,
                   seed: int = 0, level: float = 0.95) -> dict[str, dict]:
    """Paired bootstrap of a − b in AUC and in log loss, on the same resampled rows.

    ``logloss.diff < 0`` and ``auc.diff > 0`` mean a is better; a CI that spans 0 is noise.
    """
    rng = np.random.default_rng(seed)
    y, p_a, p_b = np.asarray(y), np.asarray(p_a), np.asarray(p_b)
    d_loss = _row_losses(y, p_a) - _row_losses(y, p_b)
    aucs, losses = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        aucs.append(auc(y[i], p_a[i]) - auc(y[i], p_b[i]))
        losses.append(float(d_loss[i].mean()))
    return {"auc": _ci(aucs, auc(y, p_a) - auc(y, p_b), level),
            "logloss": _ci(losses, float(d_loss.mean()), level)}


def bootstrap_ece(y: np.ndarray, p: np.ndarray, n_boot: int = 500, seed: int = 0,
                  level: float = 0.95, p_ref: np.ndarray | None = None) -> dict[str, float]:
    """Bootstrap CI of ECE; with ``p_ref``, also of ECE(p) − ECE(p_ref) on the same rows (percentile)."""
    rng = np.random.default_rng(seed)
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    vals, diffs = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        vals.append(ece(y[i], p[i]))
        if p_ref is not None:
            diffs.append(vals[-1] - ece(y[i], p_ref[i]))
    # Basic (reverse-percentile) interval: a resample's ECE carries extra binning noise, so
    # resampled ECEs sit above the estimate and their plain percentiles can miss it altogether.
    e = ece(y, p)
    q_lo, q_hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2]) if vals else (np.nan, np.nan)
    out = {"ece": e, "low": float(max(0.0, 2 * e - q_hi)), "high": float(2 * e - q_lo),
           "n_boot": n_boot, "level": level, "kind": "basic bootstrap"}
    if p_ref is not None:
        out["minus_reference"] = _ci(diffs, out["ece"] - ece(y, p_ref), level)
    return out
