"""Off-policy estimators: the click rate a target policy would get, from a log of another policy.

Each logged row holds the reward ``r`` (a click, 0/1) of the action the logging policy took,
that policy's probability ``p`` of taking it (its propensity) and the target policy's
probability ``pi`` of taking the same action (0 or 1 for a deterministic target). With the
importance weight ``w = pi / p``:

* IPS    ``mean(w r)``: unbiased whenever ``p > 0`` wherever ``pi > 0`` and ``p`` is the true
  logging probability; its variance grows with the weights.
* SNIPS  ``sum(w r) / sum(w)``: IPS divided by the weights' mean (which is 1 in expectation);
  biased by O(1/n) but steadier, and always inside the rewards' range.
* DR     ``mean(q_target + w (r - q_logged))``: a reward model's prediction ``q_logged =
  q(x, a_logged)`` and its expectation under the target ``q_target = sum_a pi(a|x) q(x, a)``,
  corrected by the weighted residual. Unbiased if either the propensities or the reward model
  are right; the better the model, the smaller the variance.

Each estimate carries a normal-approximation interval from its per-row influence terms
(SNIPS: the delta method), the weights' effective sample size ``(sum w)^2 / sum w^2`` (how many
rows the estimate effectively rests on) and the largest weight. Optional clipping cuts the
weights at ``max_weight`` (``ope.max_weight``), trading bias for variance. numpy only: the
inputs are arrays, whatever log they came from.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Estimate:
    name: str            # ips | snips | dr | logged
    value: float         # nan when undefined (SNIPS with no weight on any row)
    low: float
    high: float
    se: float            # standard error (normal approximation)
    ess: float           # effective sample size of the weights, <= rows
    max_weight: float    # the largest weight used (after clipping)
    clipped: int         # rows whose weight was cut to max_weight
    rows: int

    @property
    def ci(self) -> tuple[float, float]:
        return (self.low, self.high)

    def to_dict(self) -> dict:
        """JSON-ready: nan becomes None (JSON has no NaN)."""
        d = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}
        d["ci"] = [d.pop("low"), d.pop("high")]
        return d


def _array(name: str, v, n: int | None) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected one value per row (a 1-d array), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{name}: {len(a):,} rows, but the rewards have {n:,}: one value per logged row")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum()):,} of {len(a):,} rows are NaN or infinite "
                         f"(first at row {int(np.argmax(bad))})")
    return a


def _refuse(name: str, bad: np.ndarray, rule: str) -> None:
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum()):,} of {len(bad):,} rows {rule} "
                         f"(first at row {int(np.argmax(bad))})")


def check_inputs(r, p, pi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays as float64, or a ValueError naming the column and the rows at fault."""
    r = _array("reward", r, None)
    if len(r) < 2:
        raise ValueError(f"reward: {len(r)} rows; an estimate and its interval need at least 2")
    p = _array("propensity", p, len(r))
    pi = _array("target probability", pi, len(r))
    _refuse("propensity", (p <= 0) | (p > 1), "are <= 0 or > 1: a logged action's probability is in (0, 1]")
    _refuse("target probability", (pi < 0) | (pi > 1), "are outside [0, 1]")
    return r, p, pi


def weights(p: np.ndarray, pi: np.ndarray, max_weight: float = 0.0) -> tuple[np.ndarray, int]:
    """``pi / p``, cut at ``max_weight`` when it is > 0; and how many were cut."""
    w = pi / p
    if max_weight and max_weight > 0:
        cut = int((w > max_weight).sum())
        return np.minimum(w, max_weight), cut
    return w, 0


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence}: must be in (0, 1), e.g. 0.95")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``; 0 when every weight is 0."""
    s2 = float(np.dot(w, w))
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def _estimate(name: str, value: float, terms: np.ndarray | None, w: np.ndarray, cut: int,
              confidence: float) -> Estimate:
    """``value`` with the interval from ``terms``, per-row influence terms whose mean's error is its error."""
    n = len(w)
    if terms is None or not np.isfinite(value):
        se = float("nan")
    else:
        se = float(np.std(terms, ddof=1) / np.sqrt(n))
    half = _z(confidence) * se
    return Estimate(name, float(value), float(value - half), float(value + half), se, ess(w),
                    float(w.max()), cut, n)


def ips(r, p, pi, *, max_weight: float = 0.0, confidence: float = 0.95) -> Estimate:
    """Inverse propensity scoring: ``mean(w r)``."""
    r, p, pi = check_inputs(r, p, pi)
    w, cut = weights(p, pi, max_weight)
    z = w * r
    return _estimate("ips", z.mean(), z, w, cut, confidence)


def snips(r, p, pi, *, max_weight: float = 0.0, confidence: float = 0.95) -> Estimate:
    """Self-normalised IPS ``sum(w r) / sum(w)``; interval by the delta method.

    The ratio's influence term is ``w (r - V) / mean(w)``. Undefined (nan) when no row has
    weight: the target policy never takes an action the log holds.
    """
    r, p, pi = check_inputs(r, p, pi)
    w, cut = weights(p, pi, max_weight)
    wbar = w.mean()
    if wbar <= 0:
        return _estimate("snips", float("nan"), None, w, cut, confidence)
    v = float(np.dot(w, r) / w.sum())
    return _estimate("snips", v, w * (r - v) / wbar, w, cut, confidence)


def dr(r, p, pi, q_logged, q_target, *, max_weight: float = 0.0, confidence: float = 0.95) -> Estimate:
    """Doubly robust: ``mean(q_target + w (r - q_logged))``.

    ``q_logged``: the reward model at the logged action; ``q_target``: its expectation under the
    target policy, ``sum_a pi(a|x) q(x, a)`` (for a deterministic target, q at its action).
    """
    r, p, pi = check_inputs(r, p, pi)
    q_logged = _array("q_logged (reward model at the logged action)", q_logged, len(r))
    q_target = _array("q_target (reward model under the target policy)", q_target, len(r))
    w, cut = weights(p, pi, max_weight)
    z = q_target + w * (r - q_logged)
    return _estimate("dr", z.mean(), z, w, cut, confidence)


def on_policy(r, *, confidence: float = 0.95) -> Estimate:
    """The logged policy's own click rate: the mean reward, every weight 1."""
    r = _array("reward", r, None)
    if len(r) < 2:
        raise ValueError(f"reward: {len(r)} rows; an estimate and its interval need at least 2")
    return _estimate("logged", r.mean(), r, np.ones(len(r)), 0, confidence)


def evaluate(r, p, pi, q_logged=None, q_target=None, *, max_weight: float = 0.0,
             confidence: float = 0.95) -> dict[str, Estimate]:
    """IPS and SNIPS, and DR when the reward model's two arrays are given."""
    kw = {"max_weight": max_weight, "confidence": confidence}
    out = {"ips": ips(r, p, pi, **kw), "snips": snips(r, p, pi, **kw)}
    if q_logged is not None and q_target is not None:
        out["dr"] = dr(r, p, pi, q_logged, q_target, **kw)
    elif (q_logged is None) != (q_target is None):
        raise ValueError("doubly robust needs both q_logged and q_target (or neither)")
    return out
