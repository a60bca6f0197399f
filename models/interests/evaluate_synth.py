"""The synthetic half of ``adstream interests evaluate``: CTR model AUC without and with the
interest features, same world, split and seed.

Rows and split are the model's own (``models.datasets.synthetic.load_synthetic``,
``models.pipeline.split_of``); both models are trained by ``models.pipeline.run_train``. The
interest models are fitted on the clickstream *before the test block's first request* only
(segments on the profiles folded from it, ALS and rules on its interactions), and each row
gets user-level values from them:

- ``segment_id`` — the user's segment (−1 without events before the cut),
- ``aff_cat_score`` / ``aff_brand_score`` — the ALS score of (user, the ad's category / brand),
- ``rule_confidence`` — the best confidence of a rule recommending the ad's category to the
  user's basket (0 when none, or when the user already touched the category).

So no test label or test-period event reaches a feature; within the training block a row may
see user-level values from later training-period events (a mild optimism the "without" model
does not have — stated in docs/interests.md).
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets import world_layout as layout
from models.datasets.common import Dataset, fingerprint_frame
from models.datasets.synthetic import load_synthetic
from models.interests import affinities as A
from models.interests import events as E
from models.interests import segments as G
from models import metrics
from models.pipeline import run_train, split_of
from udfs.core import features as F
from udfs.core import profile as P
from udfs.errors import ModelError
from udfs.io.onnx_scorer import OnnxScorer

NEW_COLUMNS = ("segment_id", "aff_cat_score", "aff_brand_score", "rule_confidence")


def _rows(world: Path, ds: Dataset) -> pd.DataFrame:
    """user_id, category_id, brand_id of each dataset row, in the loader's row order (checked)."""
    imps = pd.read_parquet(layout.table(world, "impressions"),
                           columns=["impression_id", "request_id", "user_id", "creative_id", "ts"])
    reqs = pd.read_parquet(layout.table(world, "requests"), columns=["request_id", "ts"])
    imps = imps.merge(reqs.rename(columns={"ts": "request_ts"}), on="request_id", how="left")
    imps = imps.sort_values(["request_ts", "impression_id"], kind="stable").reset_index(drop=True)
    if len(imps) != len(ds.X) or not (imps["creative_id"].astype(str).to_numpy() == ds.prior_key).all():
        raise ModelError("the world's impressions are not in the training rows' order: cannot attach features")
    creatives = pd.read_parquet(layout.table(world, "creatives"), columns=["creative_id", "category_id", "brand_id"])
    return imps.merge(creatives, on="creative_id", how="left")[["user_id", "category_id", "brand_id"]]


def _als_scores(events: pd.DataFrame, column: str, cfg, users: pd.Series, items: pd.Series) -> np.ndarray:
    """ALS score of each (user, item) pair; 0 where the user or the item was not in ``events``."""
    x = A.interactions(events, column, cfg.weights)
    if x.matrix.nnz == 0:
        return np.zeros(len(users))
    model = A.fit_als(x, cfg)
    uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)
    ui = pd.Index(x.users).get_indexer(users.astype(str))
    ii = pd.Index(x.items).get_indexer(items.astype(str))
    ok = (ui >= 0) & (ii >= 0)
    out = np.zeros(len(users))
    out[ok] = np.einsum("ij,ij->i", uf[ui[ok]], itf[ii[ok]])
    return out


def _rule_conf(events: pd.DataFrame, cfg, rows: pd.DataFrame) -> np.ndarray:
    rules = A.association_rules(events, cfg.rules, cfg.affinities.weights)
    onehot = A.baskets(events, cfg.affinities.weights)
    have = {u: set(onehot.columns[r]) for u, r in zip(onehot.index, onehot.to_numpy())}
    memo: dict[str, dict] = {}
    out = np.zeros(len(rows))
    for i, (u, c) in enumerate(zip(rows["user_id"].astype(str), rows["category_id"].astype(str))):
        if u not in memo:
            memo[u] = A.rule_scores(rules, have.get(u, set()))
        out[i] = memo[u].get(c, 0.0)
    return out


def interest_columns(world: Path, ds: Dataset, cut_ts: int, cfg, say) -> pd.DataFrame:
    """The :data:`NEW_COLUMNS` of each row, from the clickstream before ``cut_ts``."""
    rows = _rows(world, ds)
    events = E.world_events(world)
    before = events[events["ts"] < cut_ts]
    params = P.ProfileParams.from_config(cfg.profile.windows)
    longest = max(cfg.profile.windows.count_windows_s)
    counts = tuple(F.count_feature(t, longest) for t in F.EVENT_TYPES)
    fit = G.fit(E.fold_profiles(before, params), cfg.interests.segments, counts)
    say(f"segments: k={fit.model.meta['k']} on {len(fit.users)} users' profiles before the test block")
    seg = dict(zip(fit.users, fit.labels.tolist()))
    a = cfg.interests.affinities
    return pd.DataFrame({
        "segment_id": rows["user_id"].astype(str).map(seg).fillna(-1).to_numpy(np.float64),
        "aff_cat_score": _als_scores(before, "category_id", a, rows["user_id"], rows["category_id"]),
        "aff_brand_score": _als_scores(before, "brand_id", a, rows["user_id"], rows["brand_id"]),
        "rule_confidence": _rule_conf(before, cfg.interests, rows),
    })


def with_columns(ds: Dataset, extra: pd.DataFrame) -> Dataset:
    X = pd.concat([ds.X.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    return dataclasses.replace(ds, name=f"{ds.name}+interests", X=X, live=False,
                               fingerprint=fingerprint_frame(X, pd.DataFrame({"y": ds.y})),
                               defaults={**ds.defaults, **{c: None for c in extra.columns}})


def _holdout_scores(run_dir: Path) -> np.ndarray:
    """The exported model's (ONNX, as served) scores of the run's own test rows."""
    sc = OnnxScorer(run_dir)
    hold = pd.read_parquet(run_dir / "holdout.parquet")
    return sc.score(hold[sc.features].to_numpy(np.float32))


def evaluate(world: Path, cfg, say) -> dict:
    """``synthetic.*`` of the evaluation file (see the module docstring)."""
    ds = load_synthetic(world, cfg, progress=False)
    split = split_of(ds, cfg)
    cut = int(ds.ts[split.test].min())
    extra = interest_columns(world, ds, cut, cfg, say)
    budget, seed = cfg.interests.evaluate.budget, cfg.model.seed
    out, p_test = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in (("without", ds), ("with", with_columns(ds, extra))):
            say(f"training the CTR model {name} the interest features (budget {budget}) …")
            out[name] = run_train(cfg, data, Path(tmp) / name, seed=seed, budget=budget, progress=False,
                                  candidates=("xgboost",))
            p_test[name] = _holdout_scores(Path(tmp) / name)
    w, wo = out["with"], out["without"]
    y_test = ds.y[split.test]
    paired = metrics.bootstrap_pair(y_test, p_test["with"], p_test["without"], 500, seed)
    return {"auc_without": round(wo["auc"], 5), "auc_with": round(w["auc"], 5),
            "oracle_auc": round(wo["oracle"]["auc"], 5),
            "observable_oracle_auc": round(wo["oracle_observable"]["auc"], 5),
            "gap_to_oracle_without": round(wo["oracle"]["auc"] - wo["auc"], 5),
            "gap_to_oracle_with": round(w["oracle"]["auc"] - w["auc"], 5),
            "auc_with_minus_without": {k: round(v, 5) for k, v in paired["auc"].items()},
            "logloss_with_minus_without": {k: round(v, 6) for k, v in paired["logloss"].items()},
            "n_train": wo["n_train"], "n_test": wo["n_test"], "test_clicks": int(ds.y[split.test].sum()),
            "new_columns": list(NEW_COLUMNS), "budget": budget, "seed": seed, "world": str(world),
            "gain_share_with": {d["feature"]: round(d["gain_share"], 5) for d in w.get("feature_importance") or []
                                if d["feature"] in NEW_COLUMNS}}
