"""Post-hoc calibration, chosen on validation data and stored as plain numbers.

A calibrator is a small dict kept in ``signature.json``; its forms (``shift``,
``none``, ``platt``, ``isotonic``) and ``apply`` live in udfs/core/calibration.py, which
the serving scorer uses too, so training and serving calibrate identically. This
module is the training side: ``fit`` one form, ``choose`` between them.

``choose_cv`` is what training uses: the candidates are scored over
forward-chaining folds of honest predictions (each block predicted by a model
that never saw it: the search's fold models, then the final model on the
validation block) — fit on all earlier blocks, score the next — so the choice
rests on every block, not one small one. The one-standard-error rule then
takes the simplest map (none < platt < isotonic) whose per-row loss is within
one standard error of the best: a map must earn its parameters. Platt needs
``MIN_PLATT_POSITIVES`` clicks to fit on, isotonic ``MIN_ISOTONIC_POSITIVES``
(it is the flexible one, and overfits scarce clicks); with less, or when no
fold can be scored, the answer is ``none``. The chosen map is then fitted on
the final model's validation predictions. ``choose`` (two halves of one block)
is the older single-block rule, kept for re-calibrating without folds.
"""
from __future__ import annotations

import math

import numpy as np

from udfs.core.calibration import EPS, METHODS, apply, logit, sigmoid  # apply: also calibrate.apply to train/export

MIN_ISOTONIC_POSITIVES = 200
MIN_PLATT_POSITIVES = 20


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


def _allowed(clicks: int) -> tuple[str, ...]:
    if clicks >= MIN_ISOTONIC_POSITIVES:
        return METHODS
    return ("none", "platt") if clicks >= MIN_PLATT_POSITIVES else ("none",)


def _row_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def choose_cv(blocks: list[tuple[np.ndarray, np.ndarray]], final: tuple[np.ndarray, np.ndarray],
              pos_weight: float = 1.0, method: str = "auto") -> tuple[dict, dict]:
    """The calibrator to ship (fitted on ``final``) and how it was chosen.

    ``blocks``: (labels, raw probabilities) in time order, each predicted by a model
    that did not see it; ``final`` (the validation block) follows them as the last
    fold. Returns the calibrator and ``{"cv_logloss": {method: mean},
    "rows": n scored, "folds": k, "chosen": m, "reason": ...}``.
    """
    yf, pf = np.asarray(final[0]), np.asarray(final[1])
    if method != "auto":
        return fit(method, yf, pf, pos_weight), {"chosen": method, "reason": "set by configuration"}
    seq = list(blocks) + [(yf, pf)]  # the validation block is the last fold
    fit_clicks = [int(sum(np.sum(b[0]) for b in seq[:k])) for k in range(1, len(seq))]
    methods = _allowed(min(fit_clicks + [int(np.sum(yf))]) if fit_clicks else 0)
    rows: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for k in range(1, len(seq)):
        ytr = np.concatenate([b[0] for b in seq[:k]])
        ptr = np.concatenate([b[1] for b in seq[:k]])
        yte, pte = np.asarray(seq[k][0]), np.asarray(seq[k][1])
        if len(np.unique(ytr)) < 2 or not len(yte):
            continue
        for m in methods:
            rows[m].append(_row_losses(yte, apply(fit(m, ytr, ptr, pos_weight), pte)))
    if not rows["none"]:
        return fit("none", yf, pf, pos_weight), {"chosen": "none", "cv_logloss": {},
                                                 "reason": "too few blocks or clicks to cross-validate"}
    loss = {m: np.concatenate(r) for m, r in rows.items()}
    mean = {m: float(v.mean()) for m, v in loss.items()}
    best = min(methods, key=lambda m: (mean[m], METHODS.index(m)))
    chosen = best
    for m in methods:  # simplest first
        d = loss[m] - loss[best]
        if d.mean() <= d.std(ddof=1) / np.sqrt(len(d)):
            chosen = m
            break
    reason = (f"lowest CV log loss" if chosen == best else
              f"within one standard error of {best} (the simpler map)")
    if len(methods) < len(METHODS):
        reason += f"; only {', '.join(methods)} allowed by the clicks available"
    info = {"chosen": chosen, "cv_logloss": mean, "rows": int(len(loss["none"])),
            "folds": len(rows["none"]), "reason": reason}
    return fit(chosen, yf, pf, pos_weight), info
