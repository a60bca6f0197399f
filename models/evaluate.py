"""The evaluation report: one JSON-able dict with the model, both baselines and (when known) the oracle.

Every figure is on the same time-ordered test block. Per-segment AUC shows
where the model is weak (new users have no profile; rare categories have
little data). Curves are stored as points so the HTML report and any later
tool can redraw them without the data.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from models import baselines, metrics
from models.datasets.common import Dataset
from models.split import Split


def _roc_points(y, p, n: int = 200) -> dict[str, list[float]]:
    if len(np.unique(y)) < 2:
        return {"fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(n, len(fpr))).astype(int))
    return {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist()}


def scored(y: np.ndarray, p: np.ndarray, base_rate: float) -> dict:
    out = metrics.summary(y, p, base_rate)
    out["mean_pred"] = float(np.mean(p))
    out["reliability"] = metrics.reliability(y, p)
    out["roc"] = _roc_points(y, p)
    return out


def segment_auc(y: np.ndarray, p: np.ndarray, labels: np.ndarray, top: int = 15) -> dict[str, dict]:
    """AUC per segment value (largest ``top`` values by rows); AUC is null for a one-class segment."""
    vals, counts = np.unique(labels, return_counts=True)
    out = {}
    for v in vals[np.argsort(-counts, kind="stable")][:top]:
        m = labels == v
        a = metrics.auc(y[m], p[m])
        out[str(v)] = {"n": int(m.sum()), "clicks": int(y[m].sum()),
                       "auc": None if np.isnan(a) else a, "ctr": float(y[m].mean()),
                       "mean_pred": float(p[m].mean())}
    return out


def importance(booster, top: int = 30) -> list[dict]:
    """Total gain per feature, as a share of all gain, best first."""
    gain = booster.get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    rows = sorted(gain.items(), key=lambda kv: -kv[1])[:top]
    return [{"feature": k, "gain_share": float(v / total)} for k, v in rows]


def report(ds: Dataset, split: Split, p_test: np.ndarray, *, booster=None, seed: int = 0,
           n_boot: int = 1000) -> dict:
    """Model metrics, CI, calibration, segments, importance, baselines and oracle on ``split.test``."""
    y = ds.y
    yte = y[split.test]
    base_rate = float(y[split.train].mean())
    out = {"dataset": ds.name, "fingerprint": ds.fingerprint, "live_features": ds.live,
           "n_train": len(split.train), "n_valid": len(split.valid), "n_test": len(split.test),
           "clicks_test": int(yte.sum()), "ctr_train": base_rate, "ctr_test": float(yte.mean())}
    model = scored(yte, p_test, base_rate)
    out.update({k: model[k] for k in ("auc", "logloss", "normalized_entropy", "ece", "mean_pred")})
    out["auc_ci"] = metrics.bootstrap_auc(yte, p_test, n_boot if len(yte) <= 50_000 else 200, seed)
    out["curves"] = {"model": {"reliability": model["reliability"], "roc": model["roc"]}}
    out["segments"] = {name: segment_auc(yte, p_test, np.asarray(lab)[split.test])
                       for name, lab in ds.segments.items()}
    if booster is not None:
        out["feature_importance"] = importance(booster)
    out["baselines"] = {}
    n_pair = n_boot if len(yte) <= 50_000 else 200
    for name, fn in (("lr", baselines.logistic), ("prior", baselines.prior)):
        p, info = fn(ds, split)
        pair = metrics.bootstrap_pair(yte, p_test, p, n_pair, seed)
        info["model_minus_this"] = pair  # AUC and log loss, paired: logloss diff < 0 = model better
        info["model_auc_minus_this"] = pair["auc"]
        s = scored(yte, p, base_rate)
        out["curves"][name] = {"reliability": s.pop("reliability"), "roc": s.pop("roc")}
        out["baselines"][name] = {**s, **info}
    for key, truth in (("oracle", ds.oracle), ("oracle_observable", ds.oracle_observable)):
        if truth is not None:
            s = scored(yte, truth[split.test], base_rate)
            out["curves"][key] = {"reliability": s.pop("reliability"), "roc": s.pop("roc")}
            out[key] = s
    lr = out["baselines"]["lr"]
    out["beats_lr"] = bool(out["auc"] > lr["auc"] and out["logloss"] < lr["logloss"])
    if "oracle" in out:
        out["auc_gap_to_oracle"] = float(out["oracle"]["auc"] - out["auc"])
    if "oracle_observable" in out:
        out["auc_gap_to_observable_oracle"] = float(out["oracle_observable"]["auc"] - out["auc"])
    return out
