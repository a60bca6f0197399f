"""The paired bootstrap of the loop's lift over the frozen run.

Both runs answer the same requests, and the site draws the same numbers for the same request,
so the two runs are paired: a resample takes a unit's requests in *both* runs at once, and the
lift is recomputed on the resample. The unit is the user (an anonymous visitor's request is a
unit of its own): a user's requests are correlated with each other — one profile, one set of
caps, one latent clickiness — and users are far more numerous than hourly blocks (24 blocks
give a coarse, unstable interval, and the hours differ by design: traffic and CTR follow the
time of day). Users are not fully independent either — they share budgets, the ad statistics
and the retrained model — which this interval does not capture; docs/loop.md says so.

``lift`` of a ratio metric (CTR: clicks / impressions) or a total (revenue: den None):
relative ``A / B − 1`` and absolute ``A − B``, each with a percentile interval from
``n_boot`` resamples drawn with a fixed seed.
"""
from __future__ import annotations

import numpy as np


def unit_sums(unit: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Each column summed per unit (units in sorted order, the same for every column)."""
    _, inverse = np.unique(np.asarray(unit), return_inverse=True)
    n = int(inverse.max()) + 1 if len(inverse) else 0
    return [np.bincount(inverse, weights=np.asarray(c, dtype=float), minlength=n) for c in columns]


def _rate(num: np.ndarray, den: np.ndarray | None) -> np.ndarray:
    """num / den along the last axis (or num's total when den is None); NaN where den is 0."""
    top = num.sum(axis=-1)
    if den is None:
        return top
    bottom = den.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def _stat(a_num, a_den, b_num, b_den) -> tuple[np.ndarray, np.ndarray]:
    a, b = _rate(a_num, a_den), _rate(b_num, b_den)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(b != 0, a / np.where(b != 0, b, 1.0) - 1.0, np.nan)
    return rel, a - b


def lift(a_num: np.ndarray, b_num: np.ndarray, a_den: np.ndarray | None = None,
         b_den: np.ndarray | None = None, *, n_boot: int = 1000, seed: int = 0,
         confidence: float = 0.95, chunk: int = 200) -> dict:
    """Lift of run A over run B from per-unit sums (arrays aligned by unit), with paired
    percentile intervals: ``estimate`` (relative), ``ci``, ``absolute``, ``absolute_ci``."""
    arrays = [np.asarray(x, dtype=float) if x is not None else None for x in (a_num, a_den, b_num, b_den)]
    n = len(arrays[0])
    rel, ab = _stat(*arrays)
    rng = np.random.default_rng(seed)
    rels, abss = [], []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n)) if n else np.zeros((0, 0), int)
        r, d = _stat(*[None if x is None else x[idx] for x in arrays])
        rels.append(r)
        abss.append(d)
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    rels_a, abss_a = np.concatenate(rels), np.concatenate(abss)
    ci = np.nanpercentile(rels_a, q).tolist() if np.isfinite(rels_a).any() else [None, None]
    aci = np.nanpercentile(abss_a, q).tolist() if np.isfinite(abss_a).any() else [None, None]
    return {"estimate": _num(rel), "ci": [_num(x) for x in ci], "absolute": _num(ab),
            "absolute_ci": [_num(x) for x in aci], "confidence": confidence, "resamples": n_boot,
            "units": n, "unit": "user (anonymous visitor: its request)", "seed": seed}


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def excludes_zero(ci: list) -> bool:
    return ci[0] is not None and ci[1] is not None and (ci[0] > 0 or ci[1] < 0)
