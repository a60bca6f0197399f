"""CTR model cost: ONNX scoring latency (1 and 100 candidates) vs XGBoost, and 1M-row training.

Latency: ``udfs.io.onnx_scorer.OnnxScorer.score`` (onnxruntime, one thread, calibration
included) and ``xgboost.Booster.inplace_predict`` (one thread) on the same model
and the same rows, one call at a time, at least 2,000 calls and ``--duration``
seconds each; p50/p99 in milliseconds. The model is ``--model DIR``, else the
registry's current model, else the model the training phase fits.

Training: 1,000,000 rows of the live feature width (synthetic values with a
logistic click signal), the production fit — QuantileDMatrix, hist, early
stopping on a time-ordered 15 % validation block, the trees x depth cap from
``model.max_depth_sum`` — with ``model.nthread`` threads, in a child process so
its peak RSS is the fit's alone.

    .venv/bin/python scripts/bench_scoring_model.py --duration 10 --out .work/bench/scoring_model.json
"""
from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402,F401  (sets OMP_WAIT_POLICY before xgboost loads)
import numpy as np  # noqa: E402

from scripts.bench import common as benchlib  # noqa: E402
from udfs import config  # noqa: E402
from udfs.core.features import model_feature_names  # noqa: E402

MIN_CALLS = 2000


def _train_child(n_rows: int, n_feat: int, params: dict, rounds: int, out_dir: str, q) -> None:
    import xgboost as xgb

    from models.split import time_split
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, n_feat)).astype(np.float32)
    z = -3.8 + X[:, :8] @ rng.normal(0, 0.4, 8) + 0.5 * X[:, 8] * X[:, 9]
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-z))).astype(np.float32)
    s = time_split(None, n_rows, 0.15, 0.15)
    t0 = time.perf_counter()
    dtr = xgb.QuantileDMatrix(X[s.train], y[s.train], max_bin=256)
    dva = xgb.QuantileDMatrix(X[s.valid], y[s.valid], ref=dtr)
    b = xgb.train(params, dtr, rounds, evals=[(dva, "valid")], early_stopping_rounds=30, verbose_eval=False)
    seconds = time.perf_counter() - t0
    b = b[: b.best_iteration + 1]
    b.save_model(str(Path(out_dir) / "model.ubj"))
    q.put({"seconds": seconds, "trees": b.num_boosted_rounds(),
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})


def train_1m(cfg, n_rows: int, out_dir: str) -> dict:
    m = cfg.model
    depth = 5
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
              "nthread": m.nthread, "max_depth": depth, "eta": 0.1, "min_child_weight": 10.0,
              "subsample": 0.8, "colsample_bytree": 0.8, "seed": 0}
    rounds = min(m.max_rounds, m.max_depth_sum // depth) if m.max_depth_sum else m.max_rounds
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_train_child, args=(n_rows, len(model_feature_names(
        cfg.profile.windows.count_windows_s)), params, rounds, out_dir, q))
    p.start()
    res = q.get()
    p.join()
    return {**res, "rows": n_rows, "threads": m.nthread, "max_depth": depth, "max_rounds": rounds}


def _model_dir(cfg, arg: str | None, fallback: str) -> Path:
    if arg:
        return Path(arg)
    from models.registry import Registry
    cur = Registry(cfg.path("model_registry")).current_dir()
    return cur if cur is not None else Path(fallback)


def _fallback_model(src: str, cfg) -> None:
    """Export the benchmark's own 1M-row model so the latency phase has something to load."""
    import xgboost as xgb

    from models import export
    b = xgb.Booster(model_file=str(Path(src) / "model.ubj"))
    w = tuple(cfg.profile.windows.count_windows_s)
    names = model_feature_names(w)
    X = np.random.default_rng(1).normal(size=(500, len(names))).astype(np.float32)
    export.export(src, b, X, names=names, live_windows=w, feature_service=cfg.feast.feature_service,
                  fingerprint="0" * 64, dataset="bench", metrics={}, calibration={"method": "none", "shift": 0.0},
                  params={})


def time_calls(fn, X: np.ndarray, duration: float) -> list[float]:
    for _ in range(50):  # warm-up: allocations, caches
        fn(X)
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < MIN_CALLS or time.perf_counter() - start < duration:
        t = time.perf_counter_ns()
        fn(X)
        out.append((time.perf_counter_ns() - t) / 1e6)
    return out


def main(argv=None) -> int:
    ap = benchlib.parser(__doc__.splitlines()[0], duration=5.0)
    ap.add_argument("--model", help="exported model folder (default: registry current, else the 1M-row model)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the training phase")
    args = ap.parse_args(argv)
    cfg = config.load(args.env)
    tmp = tempfile.mkdtemp(prefix="adstream-bench-model-")

    print(f"training on {args.rows:,} rows ...", file=sys.stderr)
    tr = train_1m(cfg, args.rows, tmp)
    d = _model_dir(cfg, args.model, tmp)
    if d == Path(tmp):
        _fallback_model(tmp, cfg)

    import pandas as pd
    import xgboost as xgb

    from udfs.io.onnx_scorer import OnnxScorer
    sc = OnnxScorer(d, threads=1)
    hold = d / "holdout.parquet"
    rows = (pd.read_parquet(hold)[sc.features].to_numpy(np.float32) if hold.exists()
            else np.random.default_rng(2).normal(size=(1000, len(sc.features))).astype(np.float32))
    X1, X100 = rows[:1], np.resize(rows, (100, rows.shape[1]))
    # a logistic-regression model (models/select.py) has no booster: only its graph is timed
    booster = xgb.Booster(model_file=str(d / "model.ubj")) if (d / "model.ubj").exists() else None
    trees = booster.num_boosted_rounds() if booster is not None else 0
    kind = (sc.signature.get("model") or {}).get("kind", "xgboost")
    print(f"timing {sc.version} ({kind}, {trees} trees) ...", file=sys.stderr)
    o1 = benchlib.pct(time_calls(sc.score, X1, args.duration))
    o100 = benchlib.pct(time_calls(sc.score, X100, args.duration))
    x100 = {"p50": None, "p99": None, "n": 0}
    if booster is not None:
        booster.set_param({"nthread": 1})
        x100 = benchlib.pct(time_calls(booster.inplace_predict, X100, args.duration))

    fig = {"onnx_1_p50_ms": o1["p50"], "onnx_1_p99_ms": o1["p99"],
           "onnx_100_p50_ms": o100["p50"], "onnx_100_p99_ms": o100["p99"],
           "xgb_100_p50_ms": x100["p50"], "xgb_100_p99_ms": x100["p99"],
           "train_1m_s": tr["seconds"], "train_1m_peak_mb": tr["peak_mb"],
           "calls": {"onnx_1": o1["n"], "onnx_100": o100["n"], "xgb_100": x100["n"]},
           "model": {"dir": str(d), "version": sc.version, "kind": kind, "trees": trees,
                     "features": len(sc.features)},
           "train": tr, "target_onnx_100_p99_ms": 0.3}
    xgb_row = (f"{x100['p50']:.4f} / {x100['p99']:.4f} ms  (inplace_predict)" if booster is not None
               else "— (no booster: a logistic-regression model)")
    rows_out = [
        ("model", f"{sc.version} · {kind} · {trees} trees · {len(sc.features)} features"),
        ("onnx   1 candidate   p50 / p99", f"{o1['p50']:.4f} / {o1['p99']:.4f} ms  ({o1['n']:,} calls)"),
        ("onnx 100 candidates  p50 / p99", f"{o100['p50']:.4f} / {o100['p99']:.4f} ms  (target p99 <= 0.3)"),
        ("xgb  100 candidates  p50 / p99", xgb_row),
        ("train 1M rows", f"{tr['seconds']:.1f} s, peak {tr['peak_mb']:.0f} MB, {tr['trees']} trees, "
                          f"{tr['threads']} threads"),
    ]
    benchlib.report("CTR model scoring and training", rows_out, fig, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
