"""``adstream model ope``: the CTR the model-based policy would get, estimated from a random log.

On the Open Bandit Dataset's uniform-random log (its true propensities are logged) this:

1. splits the impressions by time: the older part trains a reward model, the newest
   ``ope.eval_fraction`` is evaluated on (nothing of it is seen in training);
2. trains the reward model: logistic regression (models/linear.py) on features of each
   (impression, item) pair. Not the CTR pipeline: its features are per-row target statistics of
   the item that *was* shown, which have no value for the items that were not, and both the
   policy and DR need a prediction for every item. With a few dozen clicks to learn from, a
   regularised linear model is also the one that does not chase noise;
3. defines the policy: per impression (its user and position), the item with the highest
   predicted CTR. Deterministic, so pi(a_logged | x) is 1 where it agrees with the log, else 0;
4. estimates its CTR on the evaluation rows with IPS, SNIPS and DR (models/ope.py), against the
   logged random policy's observed CTR, each with its interval.

Each estimate treats an impression (user, position) as one decision, as the dataset's own
pipeline does: the three positions of one page view are not a slate here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import linear, ope
from models.datasets.common import ordered_target_stats
from models.datasets.openbandit import read_openbandit
from models.jsonio import write_json
from models.metrics import auc, logloss
from udfs.errors import ModelError

CAMPAIGNS = ("all", "men", "women")
BEHAVIOUR = "random"                       # the uniform-random log: propensities known exactly
PROPENSITY = ("propensity_score", "action_prob")   # the files' name; the dataset README's name
REWARD_MODEL = ("logistic regression (models/linear.py) on (impression, item) pair features; "
                "the CTR pipeline's per-row target statistics exist only for the item shown")
POLICY = "per impression, the item with the highest predicted CTR for its user and position"


def locate(cfg, data: str, campaign: str) -> Path:
    """The campaign folder: ``openbandit`` is ``ope.openbandit_dir``/random/CAMPAIGN, else a path."""
    if campaign not in CAMPAIGNS:
        raise ModelError(f"campaign {campaign!r}: one of {', '.join(CAMPAIGNS)}")
    root = Path(cfg.ope.openbandit_dir if data == "openbandit" else data).resolve()
    for folder in (root / BEHAVIOUR / campaign, root / campaign, root):
        if (folder / f"{campaign}.csv").is_file():
            return folder
    have = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("**/*.csv")
                  if p.name != "item_context.csv") if root.is_dir() else []
    raise ModelError(
        f"no Open Bandit log {BEHAVIOUR}/{campaign}/{campaign}.csv under {root}"
        + (f" (found: {', '.join(have)})" if have else " (the folder is absent)")
        + ". Put the dataset's obd/ folder there (github.com/st-tech/zr-obp, obd/; the full data at "
          "research.zozo.com/data.html), or point --data (or --set ope.openbandit_dir=DIR) at it"
        + (", or pick a campaign that is there with --campaign" if have else ""))


@dataclass
class Log:
    """The impressions in time order, with what the estimators and the features need."""
    rows: pd.DataFrame          # user features replaced by integer codes
    items: pd.DataFrame | None  # item context, one row per item id 0..K-1
    path: Path
    users: list[str]            # user feature columns
    affinity: list[str]         # user-item affinity columns, one per item id
    n_actions: int
    propensity: str


def read_log(folder: Path) -> Log:
    try:
        df, ctx, path = read_openbandit(folder)
    except (FileNotFoundError, ValueError) as e:
        raise ModelError(f"cannot read Open Bandit data from {folder}: {e}") from e
    prop = next((c for c in PROPENSITY if c in df.columns), None)
    if prop is None:
        raise ModelError(f"{path}: no propensity column ({' or '.join(PROPENSITY)}): without the logging "
                         "policy's probabilities there is nothing to weight by")
    t = pd.to_datetime(df["timestamp"], utc=True, format="mixed")
    df = df.assign(_t=t).iloc[np.argsort(t.astype("int64").to_numpy(), kind="stable")].reset_index(drop=True)
    users = [c for c in df.columns if c.startswith("user_feature_")]
    for c in users:    # codes, not strings: the keys of the click-rate tables (label-free, so no leak)
        df[c] = pd.factorize(df[c].astype(str))[0]
    affinity = sorted((c for c in df.columns if c.startswith("user-item_affinity_")),
                      key=lambda c: int(c.rsplit("_", 1)[1]))
    items = ctx.sort_values("item_id").reset_index(drop=True) if ctx is not None else None
    k = len(items) if items is not None else max(len(affinity), int(df["item_id"].max()) + 1)
    if items is not None and not np.array_equal(items["item_id"].to_numpy(), np.arange(k)):
        raise ModelError(f"{path.parent / 'item_context.csv'}: item ids must be 0..{k - 1}, one row each")
    if df["item_id"].max() >= k or (affinity and len(affinity) != k):
        raise ModelError(f"{path}: item ids or affinity columns do not match the {k} items of item_context.csv")
    return Log(df, items, path, users, affinity, k, prop)


def split(log: Log, eval_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oldest rows to train, the newest ``eval_fraction`` to evaluate (by time, never shuffled)."""
    n = len(log.rows)
    n_eval = int(round(n * eval_fraction))
    if n_eval < 2 or n - n_eval < 2:
        raise ModelError(f"{log.path}: {n:,} rows are too few to split into train and evaluation parts")
    return log.rows.iloc[: n - n_eval], log.rows.iloc[n - n_eval:]


def _keys(log: Log, rows: pd.DataFrame, items: np.ndarray) -> dict[str, np.ndarray]:
    """Integer keys of each click-rate table for each (row, item) pair; ``items`` is (rows, m)."""
    pos = rows["position"].to_numpy()[:, None]
    out = {"item": items, "item_position": items * 10 + pos}
    if log.items is not None:
        for c in (c for c in log.items.columns if c.startswith("item_feature_") and c != "item_feature_0"):
            out[c] = pd.factorize(log.items[c].astype(str))[0][items]
    for c in log.users:
        out[c] = np.broadcast_to(rows[c].to_numpy()[:, None], items.shape)
    return out


def _numeric(log: Log, rows: pd.DataFrame, items: np.ndarray) -> dict[str, np.ndarray]:
    pos = np.broadcast_to(rows["position"].to_numpy()[:, None], items.shape)
    out = {"position_1": (pos == 1).astype(float), "position_2": (pos == 2).astype(float)}
    if log.affinity:   # the user's affinity to *this* item
        out["affinity"] = np.take_along_axis(rows[log.affinity].to_numpy(dtype=float), items, axis=1)
    if log.items is not None and "item_feature_0" in log.items:
        out["item_feature_0"] = log.items["item_feature_0"].to_numpy(dtype=float)[items]
    return out


@dataclass
class RewardModel:
    """Logistic regression over pair features; click rates looked up in tables fitted on train."""
    log: Log
    lr: linear.Linear
    tables: dict[str, pd.Series]    # key -> smoothed click rate of the training rows
    prior: float                    # training CTR: the rate of a key never seen
    names: list[str]

    def predict(self, rows: pd.DataFrame, items: np.ndarray) -> np.ndarray:
        """Predicted CTR of each (row, item) pair, shape ``items.shape``."""
        cols = _numeric(self.log, rows, items)
        for k, v in _keys(self.log, rows, items).items():
            cols[f"{k}_ctr"] = pd.Series(v.ravel()).map(self.tables[k]).fillna(self.prior).to_numpy()
        X = np.column_stack([np.ravel(cols[n]) for n in self.names])
        return self.lr.predict(X).reshape(items.shape)


def fit_reward_model(log: Log, train: pd.DataFrame, strength: float) -> tuple[RewardModel, dict]:
    """Fit on the logged pairs of ``train``; C chosen on its newest quarter, then refit on all of it."""
    y = train["click"].to_numpy(dtype=float)
    shown = train["item_id"].to_numpy()[:, None]
    cols = {k: v.ravel() for k, v in _numeric(log, train, shown).items()}
    tables, prior = {}, float(y.mean())
    for k, v in _keys(log, train, shown).items():
        keys = pd.Series(np.ravel(v))
        # training rows see only earlier rows' clicks (as online); evaluation uses all of train
        cols[f"{k}_ctr"] = ordered_target_stats(keys, y, np.arange(len(y)), strength)[0].astype(float)
        g = pd.DataFrame({"k": keys, "y": y}).groupby("k")["y"]
        tables[k] = (g.sum() + strength * prior) / (g.count() + strength)
    names = list(cols)
    X = np.column_stack([cols[n] for n in names])
    cut = int(len(y) * 0.75)
    if len(set(y[:cut])) < 2:
        raise ModelError(f"the training part's older {cut:,} rows hold {int(y[:cut].sum())} clicks of "
                         f"{cut:,}: a reward model needs clicks and non-clicks; give a longer log or a "
                         "smaller ope.eval_fraction")
    best, scores = linear.fit_tuned(X, y, np.arange(cut), np.arange(cut, len(y)))
    lr = linear.fit(X, y, best.C)
    info = {"kind": "logistic_regression", "why": REWARD_MODEL, "C": best.C, "features": names,
            "train_rows": len(y), "train_clicks": int(y.sum()),
            "valid_logloss_by_C": {str(c): s for c, s in scores.items()}}
    return RewardModel(log, lr, tables, prior, names), info


def _model_quality(info: dict, y: np.ndarray, q_logged: np.ndarray, prior: float) -> dict:
    """How well the reward model predicts the evaluation rows' clicks, against a constant."""
    return {**info, "eval_logloss": logloss(y, q_logged),
            "constant_logloss": logloss(y, np.full(len(y), prior)),
            "eval_auc": None if np.isnan(a := auc(y, q_logged)) else a}


def evaluate_policy(cfg, log: Log, train: pd.DataFrame, held: pd.DataFrame) -> dict:
    """The report's figures: the logged CTR and the model-based policy's three estimates."""
    o = cfg.ope
    model, info = fit_reward_model(log, train, o.strength)
    q = model.predict(held, np.tile(np.arange(log.n_actions), (len(held), 1)))
    shown = held["item_id"].to_numpy()
    best = q.argmax(axis=1)
    r = held["click"].to_numpy(dtype=float)
    q_logged, q_target = q[np.arange(len(held)), shown], q[np.arange(len(held)), best]
    pi = (best == shown).astype(float)
    est = ope.evaluate(r, held[log.propensity].to_numpy(), pi, q_logged, q_target,
                       max_weight=o.max_weight, confidence=o.confidence)
    logged = ope.on_policy(r, confidence=o.confidence)
    return {
        "logged": {"policy": BEHAVIOUR, "ctr": logged.value, "ci": list(logged.ci), "se": logged.se,
                   "rows": len(r), "clicks": int(r.sum())},
        "policy": {"name": POLICY, "agrees_with_log": int(pi.sum()), "agreeing_clicks": int(r @ pi),
                   "distinct_items": int(len(np.unique(best))),
                   "direct": float(q_target.mean()),    # the reward model's own guess, uncorrected
                   **{k: e.to_dict() for k, e in est.items()}},
        "reward_model": _model_quality(info, r, q_logged, model.prior),
    }


def run_ope(cfg, data: str, campaign: str, out: str | Path, progress=print) -> dict:
    """Locate, split, fit, estimate; write the JSON report to ``out`` and return it."""
    folder = locate(cfg, data, campaign)
    log = read_log(folder)
    progress(f"read {log.path}: {len(log.rows):,} impressions, {int(log.rows['click'].sum())} clicks, "
             f"{log.n_actions} items")
    train, held = split(log, cfg.ope.eval_fraction)
    progress(f"reward model on the older {len(train):,} rows; the policy scored on the newest {len(held):,} "
             f"x {log.n_actions} items")
    figures = evaluate_policy(cfg, log, train, held)
    rep = {"data": str(log.path), "campaign": campaign, "behaviour_policy": BEHAVIOUR,
           "rows": len(held), "actions": log.n_actions, "confidence": cfg.ope.confidence,
           "max_weight": cfg.ope.max_weight,
           "split": {"eval_fraction": cfg.ope.eval_fraction, "train_rows": len(train),
                     "train_clicks": int(train["click"].sum()),
                     "train_from": str(train["_t"].iloc[0]), "eval_from": str(held["_t"].iloc[0]),
                     "eval_until": str(held["_t"].iloc[-1])},
           **figures}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json(out, rep)
    return rep


def _pct(v) -> str:
    return "undefined" if v is None else f"{100 * v:.3f}%"


def _num(v) -> str:
    return "undefined (one class)" if v is None else f"{v:.4f}"


def summary(rep: dict) -> list[str]:
    """The report in a few lines for a person."""
    lg, pol, rm = rep["logged"], rep["policy"], rep["reward_model"]
    level = f"{100 * rep['confidence']:g}% CI"
    lines = [f"{rep['campaign']}: evaluated on {rep['rows']:,} impressions ({lg['clicks']} clicks, "
             f"{rep['actions']} items), {rep['split']['eval_from'][:10]} to {rep['split']['eval_until'][:10]}",
             f"reward model: {rm['kind']} (C={rm['C']:g}) on {rm['train_rows']:,} older rows "
             f"({rm['train_clicks']} clicks): eval log loss {rm['eval_logloss']:.5f} vs constant "
             f"{rm['constant_logloss']:.5f}, AUC {_num(rm['eval_auc'])}",
             f"logged {lg['policy']} policy CTR {_pct(lg['ctr'])} ({level} {_pct(lg['ci'][0])} .. {_pct(lg['ci'][1])})",
             f"policy: {pol['name']}; agrees with the logged item on {pol['agrees_with_log']:,} rows "
             f"({pol['agreeing_clicks']} clicked), "
             f"picks {pol['distinct_items']} distinct items; the model's own guess {_pct(pol['direct'])}"]
    for k in ("ips", "snips", "dr"):
        e = pol[k]
        lines.append(f"  {k.upper():5} {_pct(e['value']):>10}  ({level} {_pct(e['ci'][0])} .. {_pct(e['ci'][1])})  "
                     f"ESS {e['ess']:,.0f}  max weight {e['max_weight']:.1f}"
                     + (f", {e['clipped']} clipped" if e["clipped"] else ""))
    return lines
