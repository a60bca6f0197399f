"""The one shape every loader returns, and helpers loaders share.

A ``Dataset`` is already numeric: categorical columns have been turned into
ordered target statistics (see ``ordered_target_stats``) so the same float
matrix feeds XGBoost, the ONNX graph and the scorer without an encoder that
could drift between training and serving.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Dataset:
    name: str                       # "synthetic", "criteo", ...
    X: pd.DataFrame                 # float32 columns, in model-input order
    y: np.ndarray                   # 0/1 labels (int8)
    ts: np.ndarray | None           # epoch ms per row; None = row order is time order
    fingerprint: str                # sha256 of the source rows (what the model was trained on)
    live: bool = False              # True when X's columns are the live model features
    segments: dict[str, np.ndarray] = field(default_factory=dict)   # name -> label per row
    prior_key: np.ndarray | None = None   # ad/item id per row for the empirical-CTR baseline
    oracle: np.ndarray | None = None      # true click probability (synthetic worlds only)
    oracle_observable: np.ndarray | None = None  # the same without terms no feature can see
    raw_categorical: pd.DataFrame | None = None  # raw category strings (the LR baseline one-hots them)
    categorical: list[str] = field(default_factory=list)   # source categorical columns
    defaults: dict[str, float | None] = field(default_factory=dict)  # per feature; None = missing
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.X)
        if len(self.y) != n or (self.ts is not None and len(self.ts) != n):
            raise ValueError(f"{self.name}: X, y and ts must have the same number of rows")
        self.X = self.X.astype(np.float32)
        self.y = np.asarray(self.y, dtype=np.int8)

    @property
    def features(self) -> list[str]:
        return list(self.X.columns)

    def order(self) -> np.ndarray:
        """Row indices in time order (stable: ties keep file order)."""
        if self.ts is None:
            return np.arange(len(self.X))
        return np.argsort(self.ts, kind="stable")


def fingerprint_frame(*frames: pd.DataFrame) -> str:
    """sha256 over the frames' values and column names: same rows, same fingerprint."""
    h = hashlib.sha256()
    for df in frames:
        h.update("\x1f".join(map(str, df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()


def fingerprint_files(*paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def ordered_target_stats(keys: pd.Series, y: np.ndarray, order: np.ndarray,
                         strength: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Target statistic and count of each row's category from strictly earlier rows only.

    ``(clicks_before + a*p) / (seen_before + a)`` with ``p`` the CTR of all earlier
    rows, plus ``log1p(seen_before)``. A row never sees its own label or a later
    one — the same rule as an online counter, so there is no target leakage and
    the statistic means the same at serving time. Returns arrays in row order.
    """
    n = len(keys)
    k = keys.astype("string").fillna("<na>").to_numpy()[order]
    yy = np.asarray(y, dtype=np.float64)[order]
    frame = pd.DataFrame({"k": k, "y": yy})
    g = frame.groupby("k", sort=False)["y"]
    seen = g.cumcount().to_numpy(dtype=np.float64)
    clicks = (g.cumsum() - frame["y"]).to_numpy()
    earlier = np.arange(n, dtype=np.float64)
    global_prior = np.where(earlier > 0, (np.cumsum(yy) - yy + 0.5) / (earlier + 1.0), 0.5)
    stat = (clicks + strength * global_prior) / (seen + strength)
    out_stat = np.empty(n)
    out_cnt = np.empty(n)
    out_stat[order] = stat
    out_cnt[order] = np.log1p(seen)
    return out_stat.astype(np.float32), out_cnt.astype(np.float32)


def encode_categoricals(df: pd.DataFrame, cols: list[str], y: np.ndarray, order: np.ndarray,
                        strength: float = 20.0) -> pd.DataFrame:
    """``<col>_te`` (target statistic) and ``<col>_n`` (log count) for each categorical column."""
    out = {}
    for c in cols:
        out[f"{c}_te"], out[f"{c}_n"] = ordered_target_stats(df[c], y, order, strength)
    return pd.DataFrame(out, index=df.index)
