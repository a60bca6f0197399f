"""``adstream model retrain``: retrain the CTR model on what it served (the training log), and
promote the result only when it beats the current model on the same most-recent rows.

One run: read the training-log store (``cfg.feedback.training_log_uri``) for impressions with
``ts`` in the window; keep the rows scored with the current model's feature order (a row of
another order has its numbers in other columns, a fallback answer has none); take those float32
rows exactly as they were scored, no re-featurisation, so training sees what serving saw; train
with ``models.pipeline.run_train`` (split by time, the newest block held out, candidates and
calibration as configured); register the candidate and put it through the registry's gate
(``Registry.promote`` with ``require_lower_logloss``): the candidate and the current model,
the latter through its ONNX file as served, both scored on the candidate's holdout — the newest
rows of the window. ``retrain.json`` in the run folder says what happened.

Statuses: ``skipped`` (fewer rows or clicks than ``model.retrain_min_rows`` /
``model.retrain_min_clicks``: nothing trained), ``promoted``, ``refused`` (registered, ``current``
unchanged), ``dry-run`` (trained and compared, nothing registered; ``decision`` says what a real
run would have done).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd

from models import metrics
from models.datasets import logged
from models.jsonio import write_json
from models.pipeline import run_train, split_of
from models.registry import PromotionRefused, Registry, holdout_scores
from models.retrain_window import Window, iso
from udfs.core.features import feature_set_id, model_feature_names
from udfs.errors import ModelError

REPORT = "retrain.json"
CANDIDATE = "candidate"


def shortfall(rows: int, clicks: int, min_rows: int, min_clicks: int) -> str | None:
    """Why ``rows`` logged rows with ``clicks`` clicks are too few to train on (None: enough)."""
    if rows < min_rows:
        return f"{rows:,} usable rows in the window, fewer than model.retrain_min_rows = {min_rows:,}"
    if clicks < min_clicks:
        return f"{clicks:,} clicks in the window's {rows:,} rows, fewer than model.retrain_min_clicks = {min_clicks:,}"
    return None


def decide(refusals: list[str], *, dry_run: bool, has_current: bool) -> tuple[str, str, str]:
    """(status, decision, reason) of a trained candidate from the gate's refusals."""
    decision = "refuse" if refusals else "promote"
    if refusals:
        reason = "; ".join(refusals)
    elif has_current:
        reason = "lower log loss than the current model on the same holdout, AUC within model.promote_auc_tolerance"
    else:
        reason = "no current model to compare with: the first model is promoted on the feature and load checks"
    status = "dry-run" if dry_run else {"promote": "promoted", "refuse": "refused"}[decision]
    return status, decision, reason


def _feature_order(cfg, reg: Registry) -> tuple[str | None, list[str]]:
    """(current version, its ordered features); without a current model, the live features."""
    version = reg.current()
    if version is None:
        return None, model_feature_names(cfg.profile.windows.count_windows_s)
    return version, [f["name"] for f in reg.get(version).signature["features"]]


def _gates(cfg) -> dict:
    return {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service,
            "auc_tolerance": cfg.model.promote_auc_tolerance, "require_lower_logloss": True}


def _holdout(checks: dict, cand: Path, current: Path | None, ts_test, seed: int) -> dict:
    """Both models on the candidate's holdout: point figures (the gate's) and paired CIs."""
    out = {"rows": checks.get("rows"), "clicks": checks.get("clicks"),
           "from": iso(int(ts_test.min())), "to": iso(int(ts_test.max()))}
    if "candidate_auc" not in checks:
        out["compared"] = checks.get("holdout", "no current model")
        return out
    out["candidate"] = {"auc": checks["candidate_auc"], "logloss": checks["candidate_logloss"]}
    out["current"] = {"auc": checks["current_auc"], "logloss": checks["current_logloss"]}
    hold = pd.read_parquet(cand / "holdout.parquet")
    pair = metrics.bootstrap_pair(hold["label"].to_numpy(), holdout_scores(cand, hold),
                                  holdout_scores(current, hold), n_boot=500, seed=seed)
    out["candidate_minus_current"] = pair   # log loss diff < 0: the candidate is better
    return out


def _gate(reg: Registry, cfg, cand: Path, dry_run: bool) -> tuple[dict, list[str], str | None]:
    """(checks, refusals, registered version): a dry run asks the gate only; a real run
    registers the candidate and promotes it unless the gate refuses (then it stays registered)."""
    if dry_run:
        checks = reg.assess(cand, **_gates(cfg))
        return checks, checks["refusals"], None
    v = reg.add(cand)
    try:
        return reg.promote(v.version, **_gates(cfg), reason="adstream model retrain")["checks"], [], v.version
    except PromotionRefused as e:
        return e.checks, e.checks.get("features") or e.checks.get("refused") or [str(e)], v.version


def run_retrain(cfg, win: Window, out_dir: str | Path, *, dry_run: bool = False, seed: int | None = None,
                budget: int | None = None, progress: bool = False,
                log: Callable[[str], None] = lambda s: None) -> dict:
    """One retraining run over ``win`` into ``out_dir``; returns the report (also written there)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = cfg.model.seed if seed is None else seed
    reg = Registry(cfg.path("model_registry"))
    current, names = _feature_order(cfg, reg)
    uri = cfg.feedback.training_log_uri
    df = logged.training_log(uri, since_ms=win.since_ms, until_ms=win.until_ms)
    kept, dropped = logged.by_feature_set(df, feature_set_id(names))
    clicks = int(kept["clicked"].sum())
    rep = {"status": None, "decision": None, "reason": None, "dry_run": dry_run, "window": win.to_dict(),
           "store": uri, "current": current, "feature_set": feature_set_id(names),
           "rows": {"in_window": len(df), "used": len(kept), "dropped": dropped}, "clicks": clicks}
    log(f"{len(df):,} training-log rows in {iso(win.since_ms)} .. {iso(win.until_ms)}; {len(kept):,} of the "
        f"current model's feature order ({current or 'none: the live features'}), {clicks:,} clicks"
        + "".join(f"; dropped {n:,}: {why}" for why, n in dropped.items()))
    short = shortfall(len(kept), clicks, cfg.model.retrain_min_rows, cfg.model.retrain_min_clicks)
    if short:
        rep.update(status="skipped", decision="skip", reason=short + ": nothing trained")
        return _finish(rep, out, t0, log)
    live = names == model_feature_names(cfg.profile.windows.count_windows_s)
    ds = logged.logged_dataset(kept, names, live=live, ips_clip=cfg.model.retrain_ips_clip, seed=seed)
    rep["weights"] = ds.meta["weights"]
    log(f"training on {len(ds.X):,} rows ...")
    t1 = time.perf_counter()
    try:
        train_rep = run_train(cfg, ds, out / CANDIDATE, seed=seed, budget=budget, progress=progress)
    except ValueError as e:   # e.g. too few distinct times for the three blocks
        raise ModelError(f"cannot train on the window's rows: {e}") from e
    rep["train_seconds"] = round(time.perf_counter() - t1, 2)
    rep["candidate"] = {"dir": str(out / CANDIDATE), "kind": train_rep["model"]["kind"],
                        "model_version": train_rep["export"]["model_version"],
                        "n_train": train_rep["n_train"], "n_valid": train_rep["n_valid"]}
    checks, refusals, version = _gate(reg, cfg, out / CANDIDATE, dry_run)
    rep["candidate"]["registry_version"] = version
    status, decision, reason = decide(refusals, dry_run=dry_run, has_current=current is not None)
    rep.update(status=status, decision=decision, reason=reason, checks=checks)
    ts_test = ds.ts[split_of(ds, cfg).test]
    rep["holdout"] = _holdout(checks, out / CANDIDATE, reg.get(current).path if current else None, ts_test, seed)
    return _finish(rep, out, t0, log)


def _finish(rep: dict, out: Path, t0: float, log) -> dict:
    rep["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(out / REPORT, rep)
    log(f"{rep['status']}: {rep['reason']} ({rep['seconds']} s; {out / REPORT})")
    return rep
