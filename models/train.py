"""XGBoost training: a seeded, budgeted random search with forward-chaining CV, then a final fit.

Choices (docs/model.md explains them):
- ``binary:logistic`` with log loss as the selection metric: ads are priced on
  the probability, so calibration matters as much as ranking.
- Class imbalance: positives may be up-weighted (``scale_pos_weight`` is a
  searched value, 1 included). The odds inflation this causes is undone
  exactly by a logit shift of ``-log(w)``: applied as the evaluation sets'
  ``base_margin`` during training (so early stopping and the search score see
  honest probabilities) and stored in the calibrator for serving.
- Early stopping on the validation block; the shipped booster is cut at the
  best iteration, so ONNX, XGBoost and the report all use the same trees.
- A latency budget: trees x depth is capped (``depth_sum``), because that is
  what scoring 100 candidates costs; the search finds the best model that fits.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import xgboost as xgb
from tqdm import tqdm

from models import calibrate
from models.split import Split, forward_folds


@dataclass
class TrainResult:
    booster: xgb.Booster
    params: dict
    best_iteration: int
    pos_weight: float
    calibration: dict
    calibration_scores: dict  # how the calibrator was chosen (calibrate.choose_cv)
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    folds: list[tuple[np.ndarray, np.ndarray, xgb.Booster]] = field(default_factory=list)  # (past, block, model)
    raw_valid: np.ndarray | None = None


SMALL_ROWS = 50_000
DEFAULT = {"max_depth": 6, "eta": 0.1, "min_child_weight": 1.0, "subsample": 0.9,
           "colsample_bytree": 0.9, "lambda": 1.0, "alpha": 0.0, "gamma": 0.0,
           "scale_pos_weight": 1.0}


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_params(rng: np.random.Generator, neg_per_pos: float) -> dict:
    """One point of the search space (trial 0 is ``DEFAULT``)."""
    w_max = max(1.0, math.sqrt(neg_per_pos))
    return {
        "max_depth": int(rng.integers(2, 9)),
        "eta": _loguniform(rng, 0.02, 0.3),
        "min_child_weight": _loguniform(rng, 1.0, 200.0),
        "subsample": float(rng.uniform(0.6, 1.0)),
        "colsample_bytree": float(rng.uniform(0.5, 1.0)),
        "lambda": _loguniform(rng, 0.1, 50.0),
        "alpha": _loguniform(rng, 1e-3, 5.0),
        "gamma": float(rng.choice([0.0, 0.0, 0.1, 0.5, 1.0])),
        "scale_pos_weight": 1.0 if rng.random() < 0.5 or w_max == 1.0 else _loguniform(rng, 1.0, w_max),
    }


def _base(params: dict, nthread: int, seed: int, rate: float) -> dict:
    """Full XGBoost parameters; the intercept is the click rate as the weighting sees it."""
    w = params["scale_pos_weight"]
    rate = min(max(rate, 1e-6), 1 - 1e-6)
    return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "nthread": nthread, "seed": seed, "base_score": w * rate / (w * rate + 1 - rate), **params}


def _rounds(params: dict, rounds: int, depth_sum: int | None) -> int:
    """Rounds allowed for ``params``: trees x depth is what scoring latency grows with."""
    return rounds if not depth_sum else max(1, min(rounds, depth_sum // params["max_depth"]))


def _fit(params: dict, dtrain, dvalid, rounds: int, early: int) -> xgb.Booster:
    # base_margin replaces the intercept on the evaluation rows: give it the intercept's
    # logit minus log(w), so the validation log loss is that of corrected probabilities.
    b = params["base_score"]
    margin = math.log(b / (1 - b)) - math.log(params["scale_pos_weight"])
    dvalid.set_base_margin(np.full(dvalid.num_row(), margin, dtype=np.float32))
    return xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")],
                     early_stopping_rounds=early, verbose_eval=False)


def _dm(X, y, names, ref=None):
    return xgb.QuantileDMatrix(X, label=y, feature_names=names, ref=ref, max_bin=256)


def search(X: np.ndarray, y: np.ndarray, names: list[str], split: Split, ts, *, budget: int,
           folds: int, rounds: int, early: int, nthread: int, seed: int,
           depth_sum: int | None = None, progress: bool = True) -> list[dict]:
    """Evaluate ``budget`` parameter sets by mean forward-chaining CV log loss; best first."""
    pos = max(int(y[split.train].sum()), 1)
    neg_per_pos = (len(split.train) - pos) / pos
    rng = np.random.default_rng(seed)
    cv = [(_dm(X[a], y[a], names), b) for a, b in forward_folds(split.train, ts, folds)]
    cv = [(d, _dm(X[b], y[b], names, ref=d)) for d, b in cv if y[b].min() != y[b].max()]
    if not cv:  # too few clicks to cross-validate: fall back to the validation block
        d = _dm(X[split.train], y[split.train], names)
        cv = [(d, _dm(X[split.valid], y[split.valid], names, ref=d))]
    trials = []
    bar = tqdm(range(budget), desc="search", unit="trial", disable=not progress, leave=False)
    for t in bar:
        params = dict(DEFAULT) if t == 0 else sample_params(rng, neg_per_pos)
        scores, iters = [], []
        for dtr, dva in cv:
            b = _fit(_base(params, nthread, seed, float(dtr.get_label().mean())), dtr, dva,
                     _rounds(params, rounds, depth_sum), early)
            scores.append(float(b.best_score))
            iters.append(int(b.best_iteration) + 1)
        trials.append({"trial": t, "params": params, "cv_logloss": float(np.mean(scores)),
                       "cv_rounds": int(np.mean(iters))})
        bar.set_postfix(best=f"{min(x['cv_logloss'] for x in trials):.5f}")
    bar.close()
    return sorted(trials, key=lambda x: (x["cv_logloss"], x["trial"]))


def train(X: np.ndarray, y: np.ndarray, names: list[str], split: Split, ts=None, *,
          budget: int = 20, folds: int = 3, rounds: int = 400, early: int = 30,
          nthread: int = 2, seed: int = 7, calibration: str = "auto",
          depth_sum: int | None = None, progress: bool = True) -> TrainResult:
    """Search, then fit the best parameters on train with early stopping on valid, then calibrate."""
    t0 = time.perf_counter()
    X = np.asarray(X, dtype=np.float32)
    if len(split.train) < SMALL_ROWS:
        nthread = 1  # thread start-up and syncing cost more than they save on small data
    trials = search(X, y, names, split, ts, budget=budget, folds=folds, rounds=rounds, early=early,
                    nthread=nthread, seed=seed, depth_sum=depth_sum, progress=progress)
    best = trials[0]["params"]
    dtr = _dm(X[split.train], y[split.train], names)
    dva = _dm(X[split.valid], y[split.valid], names, ref=dtr)
    booster = _fit(_base(best, nthread, seed, float(y[split.train].mean())), dtr, dva,
                   _rounds(best, rounds, depth_sum), early)
    n_trees = int(booster.best_iteration) + 1
    booster = booster[:n_trees]
    raw_valid = booster.inplace_predict(X[split.valid])
    folds = fold_models(X, y, names, split, ts, best, folds=folds, rounds=rounds, early=early,
                        nthread=nthread, seed=seed, depth_sum=depth_sum)
    blocks = [(y[b], m.inplace_predict(X[b])) for _, b, m in folds]
    cal, cal_info = calibrate.choose_cv(blocks, (y[split.valid], raw_valid), best["scale_pos_weight"],
                                        calibration)
    return TrainResult(booster, best, n_trees, best["scale_pos_weight"], cal, cal_info, trials,
                       time.perf_counter() - t0, folds, raw_valid)


def fold_models(X, y, names, split: Split, ts, params: dict, *, folds: int, rounds: int, early: int,
                nthread: int, seed: int, depth_sum: int | None) -> list[tuple[np.ndarray, np.ndarray, xgb.Booster]]:
    """``params`` refitted on each forward fold's past: honest predictions for every block.

    Early stopping watches the fold's next block, as in the search; the calibrator
    choice (``calibrate.choose_cv``) and GBDT+LR's folds score on these blocks.
    """
    out = []
    for past, nxt in forward_folds(split.train, ts, folds):
        if y[past].min() == y[past].max():
            continue
        dtr = _dm(X[past], y[past], names)
        dnx = _dm(X[nxt], y[nxt], names, ref=dtr)
        b = _fit(_base(params, nthread, seed, float(y[past].mean())), dtr, dnx,
                 _rounds(params, rounds, depth_sum), early)
        out.append((past, nxt, b[:int(b.best_iteration) + 1]))
    return out


def predict(result_or_booster, cal: dict | None, X: np.ndarray) -> np.ndarray:
    """Calibrated click probabilities from a booster (the report's and the parity check's path)."""
    b = getattr(result_or_booster, "booster", result_or_booster)
    return calibrate.apply(cal, b.inplace_predict(np.asarray(X, dtype=np.float32)))
