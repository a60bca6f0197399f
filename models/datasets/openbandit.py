"""Open Bandit Dataset (ZOZOTOWN): widget impressions with position, click and item context.

Takes the campaign folder (``random/men/``: ``men.csv`` + ``item_context.csv``) or
the impressions CSV itself (``item_context.csv`` is looked up beside it). The
behaviour policy's ``propensity_score`` is not a feature: it describes the
logging policy, not the user or item. Segments: slot position, the item's
first context category, and new vs returning user-feature tuple (OBD has no
user id; a tuple seen earlier in the log counts as returning).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets.common import Dataset
from models.datasets.tabular import from_frame


def _files(path: Path) -> tuple[Path, Path | None]:
    if path.is_dir():
        logs = sorted(p for p in path.glob("*.csv") if p.name != "item_context.csv")
        if not logs:
            raise FileNotFoundError(f"{path}: no impressions CSV (expected e.g. men.csv)")
        path = logs[0]
    ctx = path.parent / "item_context.csv"
    return path, ctx if ctx.exists() else None


def read_openbandit(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None, Path]:
    """The impressions and the item context table as in the files, and the log's path.

    The raw columns, unencoded: off-policy evaluation (models/ope_report.py) builds features
    for items that were *not* shown, which the per-row encoding of ``load_openbandit`` cannot.
    """
    log_path, ctx_path = _files(Path(path))
    df = pd.read_csv(log_path, index_col=0)
    if not {"timestamp", "item_id", "position", "click"} <= set(df.columns):
        raise ValueError(f"{log_path}: not an Open Bandit log (needs timestamp,item_id,position,click)")
    ctx = pd.read_csv(ctx_path, index_col=0) if ctx_path is not None else None
    return df, ctx, log_path


def load_openbandit(path: str | Path, strength: float = 20.0) -> Dataset:
    df, ctx, log_path = read_openbandit(path)
    if ctx is not None:
        df = df.merge(ctx, on="item_id", how="left")
    users = [c for c in df.columns if c.startswith("user_feature_")]
    affinity = [c for c in df.columns if c.startswith("user-item_affinity_")]
    item_num = [c for c in df.columns if c == "item_feature_0"]
    item_cat = [c for c in df.columns if c.startswith("item_feature_") and c != "item_feature_0"]
    df["user_tuple"] = df[users].astype(str).agg("|".join, axis=1) if users else "all"
    # The affinity of the user to *this* item, pulled out of the per-item vector.
    if affinity:
        idx = df["item_id"].to_numpy().clip(0, len(affinity) - 1)
        df["affinity_shown"] = df[affinity].to_numpy()[np.arange(len(df)), idx]
    ts_order = pd.to_datetime(df["timestamp"], utc=True, format="mixed").argsort(kind="stable")
    seen = np.zeros(len(df), dtype=bool)
    first = set()
    for i in ts_order:
        t = df["user_tuple"].iat[i]
        seen[i] = t in first
        first.add(t)
    segs = {"returning": np.where(seen, "returning", "new")}
    if item_cat:
        segs["item_category"] = df[item_cat[0]].astype(str).str[:8].to_numpy()
    ds = from_frame(
        df, name="openbandit", label="click", time="timestamp",
        numeric=["position", *item_num, *(["affinity_shown"] if affinity else []), *affinity],
        categorical=["item_id", *users, "user_tuple", *item_cat],
        segments=["position"], prior_key="item_id", strength=strength, extra_segments=segs)
    ds.meta["path"] = str(log_path)
    return ds
