"""The report's candidate section: every candidate on the same test block, against the shipped one.

Only reported — the choice was made on validation (models/select.py). Per
candidate: test AUC / log loss / NE / ECE (with a bootstrap CI), its validation
log loss and calibrator, whether it could be exported, and for the others a
paired bootstrap of shipped − candidate in AUC and log loss (same resampled
rows, so the noise common to both cancels). ``calibration_check`` holds the
shipped model's ECE against its own uncalibrated output (only the ``shift``
that undoes class weighting): calibration must not make it worse beyond the CI;
and the ECE a perfectly calibrated model would show on the same rows.
"""
from __future__ import annotations

import numpy as np

from models import calibrate, metrics


def _boots(n: int, n_boot: int) -> int:
    return n_boot if n <= 50_000 else 200


def candidates(cands, win, why: str, y: np.ndarray, X: np.ndarray, base_rate: float, *,
               seed: int = 0, n_boot: int = 1000) -> dict:
    """``{"shipped": name, "why": ..., "candidates": {name: {...}}, "calibration_check": {...}}``."""
    nb = _boots(len(y), n_boot)
    p_win = win.predict(X)
    table = {}
    for c in cands:
        p = p_win if c is win else c.predict(X)
        entry = {**metrics.summary(y, p, base_rate), "mean_pred": float(np.mean(p)),
                 "valid_logloss": c.valid_logloss, "calibration": c.calibration["method"],
                 "calibration_cv": c.calibration_cv, "exportable": c.exportable,
                 "export_error": c.export_error, "info": c.info,
                 "ece_ci": metrics.bootstrap_ece(y, p, min(nb, 500), seed)}
        if c is not win:
            entry["shipped_minus_this"] = metrics.bootstrap_pair(y, p_win, p, nb, seed)
        table[c.name] = entry
    return {"shipped": win.name, "why": why, "candidates": table,
            "calibration_check": calibration_check(win, y, X, p_win, seed, min(nb, 500))}


def noise_floor(p: np.ndarray, seed: int = 0, draws: int = 200) -> dict:
    """ECE a perfectly calibrated model would show on these rows: labels drawn from ``p`` itself.

    With a CTR of 20 % and ~1,000 test rows, 15 equal-mass bins hold ~70 rows each, whose
    observed rate alone wobbles by ~0.05: an ECE near this floor is noise, not miscalibration.
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(p, dtype=np.float64)
    v = [metrics.ece((rng.random(len(p)) < p).astype(np.int8), p) for _ in range(draws)]
    return {"mean": float(np.mean(v)), "q95": float(np.quantile(v, 0.95)), "draws": draws}


def calibration_check(win, y: np.ndarray, X: np.ndarray, p_cal: np.ndarray, seed: int, n_boot: int) -> dict:
    """ECE of the shipped probabilities vs the same model uncalibrated, paired, on the test block."""
    uncal = {"method": "none", "shift": win.calibration.get("shift", 0.0)}
    p_raw = calibrate.apply(uncal, win.raw(X))
    e = metrics.bootstrap_ece(y, p_cal, n_boot, seed, p_ref=p_raw)
    d = e["minus_reference"]
    return {"method": win.calibration["method"], "ece": e["ece"], "ece_uncalibrated": metrics.ece(y, p_raw),
            "ece_ci": {"low": e["low"], "high": e["high"]}, "ece_minus_uncalibrated": d,
            "ece_noise_floor": noise_floor(p_cal, seed),
            # worse beyond noise = the whole CI of the difference above zero
            "ok": bool(not (d["low"] > 0))}
