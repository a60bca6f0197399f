"""``train → evaluate → export`` as one reproducible run, and the re-evaluate / re-export paths.

Kept apart from the CLI so tests and the benchmark drive the same code the
command runs. Everything a run writes lands in one folder: ``model.onnx``,
``signature.json``, ``report.json``, ``report.html``, ``model.ubj`` (the
XGBoost original, for re-export) and ``holdout.parquet`` (the test rows, so the
registry can compare models on identical data).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from models import blend, compare, evaluate, linear, report_html, select, train
from models.datasets.common import Dataset
from models.jsonio import write_json
from models.split import time_split
from udfs.errors import ModelError
from udfs.core.features import model_feature_names
from udfs.io.onnx_scorer import OnnxScorer


def _live_windows(ds: Dataset, cfg) -> tuple[int, ...] | None:
    if not ds.live:
        return None
    w = tuple(cfg.profile.windows.count_windows_s)
    if ds.features != model_feature_names(w):
        raise ModelError("dataset marked live but its columns are not the live model features")
    return w


def split_of(ds: Dataset, cfg, valid_fraction: float | None = None, test_fraction: float | None = None):
    return time_split(ds.ts, len(ds.X), valid_fraction or cfg.model.valid_fraction,
                      test_fraction or cfg.model.test_fraction)


def write_outputs(out: Path, rep: dict) -> None:
    write_json(out / "report.json", rep)
    report_html.write(rep, out / "report.html")


def run_train(cfg, ds: Dataset, out_dir: str | Path, *, seed: int | None = None, budget: int | None = None,
              calibration: str | None = None, valid_fraction: float | None = None,
              test_fraction: float | None = None, nthread: int | None = None,
              rounds: int | None = None, progress: bool = True,
              candidates: tuple[str, ...] | None = None) -> dict:
    """Train on ``ds``, write the report and the exported model to ``out_dir``; returns the report.

    ``candidates`` (default ``model.candidates``): the kinds that compete (models/select.py).
    """
    t0 = time.perf_counter()
    m = cfg.model
    seed = m.seed if seed is None else seed
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = split_of(ds, cfg, valid_fraction, test_fraction)
    X = ds.X.to_numpy(np.float32)
    res = train.train(X, ds.y, ds.features, split, ds.ts, budget=budget or m.budget, folds=m.cv_folds,
                      rounds=rounds or m.max_rounds, early=m.early_stopping_rounds,
                      nthread=nthread or m.nthread, seed=seed, calibration=calibration or m.calibration,
                      depth_sum=m.max_depth_sum or None, progress=progress)
    cands = select.fit_candidates(res, X, ds.y, split, ds.ts, folds=m.cv_folds, seed=seed,
                                  calibration=calibration or m.calibration, tolerance=m.parity_tolerance,
                                  names=tuple(candidates or m.candidates))
    win, why = select.choose(cands)
    p_test = win.predict(X[split.test])
    rep = evaluate.report(ds, split, p_test, booster=win.booster, seed=seed)
    rep.update(compare.candidates(cands, win, why, ds.y[split.test], X[split.test], rep["ctr_train"], seed=seed))
    rep["model"] = {"kind": win.name, **win.info, "xgboost_params": res.params, "xgboost_trees": res.best_iteration,
                    "pos_weight": res.pos_weight, "max_depth_sum": m.max_depth_sum,
                    "search_seconds": round(res.seconds, 2), "train_seconds": round(time.perf_counter() - t0, 2),
                    "seed": seed, "budget": budget or m.budget}
    rep["calibration"] = {"chosen": win.calibration["method"], **win.calibration_cv}
    rep["search"] = [{k: t[k] for k in ("trial", "cv_logloss", "cv_rounds", "params")} for t in res.trials[:5]]
    windows = _live_windows(ds, cfg)
    sig = select.export_candidate(
        out, win, X[split.test], tolerance=m.parity_tolerance, names=ds.features,
        live_windows=windows, feature_service=cfg.feast.feature_service, fingerprint=ds.fingerprint,
        dataset=ds.name, calibration=win.calibration, params=res.params,
        metrics={k: rep[k] for k in ("auc", "logloss", "normalized_entropy", "ece", "n_train", "n_test")})
    rep["export"] = {"model_version": sig["model_version"], "parity": sig["parity"]}
    hold = pd.DataFrame(X[split.test], columns=ds.features)
    hold["label"] = ds.y[split.test]
    hold.to_parquet(out / "holdout.parquet", index=False)
    write_outputs(out, rep)
    return rep


def run_evaluate(cfg, model_dir: str | Path, ds: Dataset, out_dir: str | Path, *, seed: int = 0,
                 valid_fraction: float | None = None, test_fraction: float | None = None) -> dict:
    """Score ``ds``'s test block with the *exported* model (as served) and write a fresh report."""
    sc = OnnxScorer(model_dir)
    if sc.features != ds.features:
        raise ModelError(f"the dataset's features do not match the model's signature "
                         f"({len(ds.features)} vs {len(sc.features)} columns)")
    split = split_of(ds, cfg, valid_fraction, test_fraction)
    p_test = sc.score(ds.X.to_numpy(np.float32)[split.test])
    booster = None
    if (Path(model_dir) / "model.ubj").exists():
        booster = xgb.Booster(model_file=str(Path(model_dir) / "model.ubj"))
    rep = evaluate.report(ds, split, p_test, booster=booster, seed=seed)
    rep["model"] = {"evaluated": str(model_dir), "model_version": sc.version}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, rep)
    return rep


def _rebuild(d: Path, old: dict, n: int):
    """(graph without calibration, reference function, booster) of the shipped kind, from the folder."""
    kind = (old.get("model") or {}).get("kind", "xgboost")
    if kind == "lr":
        m = linear.Linear.from_dict(old["model"]["linear"])
        return kind, m, m.predict, None
    booster = xgb.Booster(model_file=str(d / "model.ubj"))
    if kind == "blend":  # the trees in model.ubj, the LR and the weight in the signature
        st = old["model"]
        m = blend.Blend(booster, linear.Linear.from_dict(st["linear"]), float(st["alpha"]), float(st["shift"]))
        return kind, m, m.predict, booster
    # GBDT+LR was saved as the rewritten booster (models/leaves.py): it re-exports as trees
    return kind, booster, booster.inplace_predict, booster


def run_export(cfg, model_dir: str | Path) -> dict:
    """Re-export the shipped model to ONNX with the parity gate on ``holdout.parquet``; returns the signature.

    XGBoost and GBDT+LR are rebuilt from ``model.ubj`` (+ the leaf weights in the
    signature), logistic regression from its weights in the signature, the blend from both.
    """
    d = Path(model_dir)
    try:
        old = json.loads((d / "signature.json").read_text())
        hold = pd.read_parquet(d / "holdout.parquet")
        names = [f["name"] for f in old["features"]]
        kind, m, ref, booster = _rebuild(d, old, len(names))
    except (OSError, ValueError, KeyError, xgb.core.XGBoostError) as e:
        raise ModelError(f"{d}: needs signature.json, holdout.parquet (and model.ubj for trees): {e}") from e
    c = select.Candidate(kind, ref, old["calibration"], {}, float("nan"), {}, None, booster=booster,
                         state={k: v for k, v in old["model"].items() if k != "kind"} if "model" in old else {})
    c.graph = select.graph_of(kind if kind in ("lr", "blend") else "xgboost", m, len(names))
    w = tuple(old["windows_s"]) if old.get("live_features") else None
    params = (old.get("xgboost") or {}).get("params", {})
    return select.export_candidate(d, c, hold[names].to_numpy(np.float32), tolerance=cfg.model.parity_tolerance,
                                   names=names, live_windows=w, feature_service=old.get("feature_service"),
                                   fingerprint=old["training_data_fingerprint"], dataset=old["dataset"],
                                   metrics=old["metrics"], calibration=old["calibration"], params=params)
