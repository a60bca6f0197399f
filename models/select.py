"""The candidates, and which one ships: never a model worse than the simple one.

Four candidates are fitted on the same split, each with its own calibrator
(chosen by ``calibrate.choose_cv`` over forward-chaining folds of honest
predictions):

- ``xgboost``: the searched booster (models/train.py);
- ``lr``: logistic regression on the served feature vector (models/linear.py);
- ``gbdt_lr``: that booster's leaves one-hot into a logistic regression
  (models/leaves.py, He et al. 2014);
- ``blend``: the booster's and the LR's logits mixed, ``α`` chosen on the
  training block's forward folds, never on validation (models/blend.py).

Each is scored on the validation block by log loss, with its calibrator
cross-fitted there (fitted on one half, scored on the other, both ways) so no
candidate is scored on data its calibrator was fitted to. Every candidate's
ONNX graph is built and parity-checked on the validation block first; one that
cannot be exported within tolerance is reported and not selectable. The
lowest validation log loss ships (ties: the simpler model). The test block is
never looked at to choose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from models import blend, calibrate, export, leaves, linear
from models.metrics import logloss
from models.split import Split, forward_folds
from udfs.errors import ModelError

ORDER = ("lr", "xgboost", "gbdt_lr", "blend")  # simplest first: ties go to the earlier one


@dataclass
class Candidate:
    name: str
    raw: Callable[[np.ndarray], np.ndarray]     # uncalibrated probabilities, training's code
    calibration: dict
    calibration_cv: dict
    valid_logloss: float
    info: dict
    graph: Callable[[dict], tuple[bytes, dict]]  # calibrator -> (ONNX bytes, calibration as stored)
    booster: object = None
    state: dict = field(default_factory=dict)    # what signature.json keeps to re-export it
    export_error: str | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        return calibrate.apply(self.calibration, self.raw(X))

    @property
    def exportable(self) -> bool:
        return self.export_error is None


def crossfit_logloss(y: np.ndarray, p_raw: np.ndarray, method: str, pos_weight: float) -> float:
    """Log loss of ``method`` on the block, each half calibrated by a map fitted on the other."""
    h = len(y) // 2
    a, b = np.arange(h), np.arange(h, len(y))
    p = np.empty(len(y))
    for tr, te in ((a, b), (b, a)):
        cal = calibrate.fit(method if len(np.unique(y[tr])) == 2 else "none", y[tr], p_raw[tr], pos_weight)
        p[te] = calibrate.apply(cal, p_raw[te])
    return logloss(y, p)


def graph_of(kind: str, m, n_features: int) -> Callable[[dict], tuple[bytes, dict]]:
    """calibrator -> (ONNX bytes of model ``m`` of ``kind``, the calibrator as stored).

    A logit-affine calibrator (``none``/``platt``) is folded into the graph (leaf
    weights, or LR weights); isotonic stays outside (``in_graph`` false).
    """
    def lr_graph(c):
        if c["method"] == "none":  # LR has no class weighting: the shift is 0
            return linear.to_onnx(m), dict(c, in_graph=True)
        if c["method"] == "platt":
            return linear.to_onnx(m.folded(float(c["a"]), float(c["b"]))), dict(c, in_graph=True)
        return linear.to_onnx(m), dict(c, in_graph=False)

    if kind == "lr":
        return lr_graph
    if kind == "blend":
        return lambda c: blend.graph(m, n_features, c)
    if kind == "gbdt_lr":
        return lambda c: export.fold_calibration(export.to_onnx(leaves.to_booster(m), n_features), c)
    return lambda c: export.fold_calibration(export.to_onnx(m, n_features), c)


def _calibrated(blocks, y_valid, raw_valid, pos_weight, method):
    cal, info = calibrate.choose_cv(blocks, (y_valid, raw_valid), pos_weight, method)
    return cal, info, crossfit_logloss(y_valid, raw_valid, cal["method"], pos_weight)


def _xgboost(res, X, y, split, method) -> Candidate:
    b = res.booster
    vl = crossfit_logloss(y[split.valid], res.raw_valid, res.calibration["method"], res.pos_weight)
    return Candidate("xgboost", b.inplace_predict, res.calibration, res.calibration_scores, vl,
                     {"trees": res.best_iteration, "params": res.params, "pos_weight": res.pos_weight},
                     graph_of("xgboost", b, X.shape[1]), booster=b)


def _lr_parts(X, y, split, ts, folds, seed):
    """The tuned LR, its scores by C, and per forward fold (past, block, LR refitted on past)."""
    m, scores = linear.fit_tuned(X, y, split.train, split.valid, seed)
    fold = [(past, nxt, linear.fit(X[past], y[past], m.C, seed))
            for past, nxt in forward_folds(split.train, ts, folds) if y[past].min() != y[past].max()]
    return m, scores, fold


def _lr(X, y, split, parts, method) -> Candidate:
    m, scores, fold = parts
    blocks = [(y[nxt], f.predict(X[nxt])) for _, nxt, f in fold]
    cal, info, vl = _calibrated(blocks, y[split.valid], m.predict(X[split.valid]), 1.0, method)
    return Candidate("lr", m.predict, cal, info, vl,
                     {"C": m.C, "valid_logloss_by_C": {str(k): v for k, v in scores.items()},
                      "inputs": int(2 * len(m.w))}, graph_of("lr", m, X.shape[1]),
                     state={"linear": m.to_dict()})


def _blend(res, X, y, split, parts, method) -> Candidate | None:
    """α from the folds both parents were refitted on (the same forward folds, paired by block);
    None when there is no such fold (too few clicks): α would then have no honest rows."""
    m, _, lr_fold = parts
    shift = float(np.log(res.pos_weight)) if res.pos_weight > 0 else 0.0
    by_block = {(int(nxt[0]), len(nxt)): f for _, nxt, f in lr_fold if len(nxt)}
    pairs = [(nxt, b, by_block[(int(nxt[0]), len(nxt))]) for _, nxt, b in res.folds
             if len(nxt) and (int(nxt[0]), len(nxt)) in by_block]
    tri = [(y[nxt], blend.Blend(b, f, 1.0, shift).margin(X[nxt]), f.logit(X[nxt])) for nxt, b, f in pairs]
    if not tri:
        return None
    alpha, scores = blend.choose_alpha(tri)
    bm = blend.Blend(res.booster, m, alpha, shift)
    blocks = [(yb, blend.mix(alpha, zt, zl)) for yb, zt, zl in tri]
    cal, info, vl = _calibrated(blocks, y[split.valid], bm.predict(X[split.valid]), 1.0, method)
    return Candidate("blend", bm.predict, cal, info, vl,
                     {"alpha": alpha, "alpha_folds": len(tri), "alpha_rows": int(sum(len(t[0]) for t in tri)),
                      "fold_logloss_by_alpha": scores, "trees": res.best_iteration, "C": m.C},
                     graph_of("blend", bm, X.shape[1]), booster=res.booster, state=bm.state())


def _gbdt_lr(res, X, y, split, seed, method) -> Candidate:
    m, scores = leaves.fit_tuned(res.booster, X, y, split.train, split.valid, seed)
    blocks = [(y[nxt], leaves.fit(b, X[past], y[past], m.C, seed).predict(X[nxt]))
              for past, nxt, b in res.folds]
    cal, info, vl = _calibrated(blocks, y[split.valid], m.predict(X[split.valid]), 1.0, method)
    return Candidate("gbdt_lr", m.predict, cal, info, vl,
                     {"C": m.C, "trees": res.best_iteration,
                      "valid_logloss_by_C": {str(k): v for k, v in scores.items()}},
                     graph_of("gbdt_lr", m, X.shape[1]), booster=leaves.to_booster(m), state={"C": m.C})


def fit_candidates(res, X: np.ndarray, y: np.ndarray, split: Split, ts, *, folds: int, seed: int,
                   calibration: str = "auto", tolerance: float = 1e-5,
                   names: tuple[str, ...] = ORDER) -> list[Candidate]:
    """The candidates in ``names`` (``res`` is the searched booster), calibrated, scored on
    validation and parity-checked there."""
    X = np.asarray(X, dtype=np.float32)
    lr_parts = _lr_parts(X, y, split, ts, folds, seed) if {"lr", "blend"} & set(names) else None
    make = {"xgboost": lambda: _xgboost(res, X, y, split, calibration),
            "lr": lambda: _lr(X, y, split, lr_parts, calibration),
            "gbdt_lr": lambda: _gbdt_lr(res, X, y, split, seed, calibration),
            "blend": lambda: _blend(res, X, y, split, lr_parts, calibration)}
    cands = [c for c in (make[n]() for n in ORDER if n in names) if c is not None]
    for c in cands:
        try:
            model_bytes, cal = c.graph(c.calibration)
            export.check_parity(c.raw, model_bytes, X[split.valid], tolerance, cal)
        except (ModelError, ValueError) as e:
            c.export_error = str(e)
    return cands


def choose(cands: list[Candidate]) -> tuple[Candidate, str]:
    """The exportable candidate with the lowest validation log loss, and why."""
    ok = [c for c in cands if c.exportable]
    if not ok:
        raise ModelError("no candidate could be exported with parity: "
                         + "; ".join(f"{c.name}: {c.export_error}" for c in cands))
    win = min(ok, key=lambda c: (c.valid_logloss, ORDER.index(c.name)))
    others = ", ".join(f"{c.name} {c.valid_logloss:.5f}" for c in ok if c is not win)
    why = f"lowest validation log loss ({win.valid_logloss:.5f}; {others or 'no other exportable candidate'})"
    dropped = [c.name for c in cands if not c.exportable]
    if dropped:
        why += f"; not selectable (no ONNX parity): {', '.join(dropped)}"
    return win, why


def export_candidate(out_dir, c: Candidate, X_test: np.ndarray, *, tolerance: float, **sig) -> dict:
    """Write the candidate's graph behind the parity gate on ``X_test`` (models/export.py)."""
    model_bytes, sig["calibration"] = c.graph(c.calibration)
    return export.write_model(out_dir, model_bytes, c.raw, X_test, tolerance=tolerance,
                              booster=c.booster, model={"kind": c.name, **c.state}, **sig)
