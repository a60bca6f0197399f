"""Bring any impression log: a CSV or parquet file plus which columns mean what.

The label column must be 0/1 (anything > 0 counts as a click). The optional
time column orders rows (epoch seconds/ms or a date string); without one the
file's row order is taken as time order, as in Criteo's logs. Categorical
columns become ordered target statistics (``common.encode_categoricals``);
numeric columns pass through with missing values left as NaN, which XGBoost
and the ONNX tree ensemble both route down the learned default branch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from models.datasets.common import Dataset, encode_categoricals, fingerprint_frame


def read_table(path: str | Path, **kw) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such data file: {p}")
    if p.suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix in (".jsonl", ".ndjson"):
        return pd.read_json(p, lines=True)
    return pd.read_csv(p, **kw)


def to_epoch_ms(col: pd.Series) -> np.ndarray:
    """Numbers below 1e11 are seconds, above are milliseconds; strings are parsed as dates."""
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(dtype=np.float64)
        return np.where(v < 1e11, v * 1000.0, v).astype(np.int64)
    t = pd.to_datetime(col, utc=True, format="mixed")
    return (t.astype("int64") // 1_000_000).to_numpy()


def from_frame(df: pd.DataFrame, *, name: str, label: str, time: str | None = None,
               numeric: Sequence[str] = (), categorical: Sequence[str] = (),
               segments: Sequence[str] = (), prior_key: str | None = None,
               strength: float = 20.0, extra_segments: dict | None = None) -> Dataset:
    """Build a ``Dataset`` from a frame and the roles of its columns."""
    missing = [c for c in [label, time, *numeric, *categorical, *segments, prior_key]
               if c and c not in df.columns]
    if missing:
        raise ValueError(f"{name}: columns not found: {missing} (have: {list(df.columns)[:20]}...)")
    if not numeric and not categorical:
        raise ValueError(f"{name}: give at least one numeric or categorical column")
    df = df.reset_index(drop=True)
    y = (pd.to_numeric(df[label], errors="coerce").fillna(0).to_numpy() > 0).astype(np.int8)
    ts = to_epoch_ms(df[time]) if time else None
    order = np.argsort(ts, kind="stable") if ts is not None else np.arange(len(df))
    X = pd.DataFrame({c: pd.to_numeric(df[c], errors="coerce").astype(np.float32) for c in numeric})
    raw = df[list(categorical)].astype("string").fillna("<na>") if categorical else None
    if categorical:
        X = pd.concat([X, encode_categoricals(raw, list(categorical), y, order, strength)], axis=1)
    segs = {s: df[s].astype(str).to_numpy() for s in segments}
    segs.update(extra_segments or {})
    return Dataset(
        name=name, X=X, y=y, ts=ts,
        fingerprint=fingerprint_frame(X, pd.DataFrame({"y": y})),
        segments=segs,
        prior_key=df[prior_key].astype(str).to_numpy() if prior_key else None,
        raw_categorical=raw, categorical=list(categorical),
        defaults={c: None for c in X.columns},
        meta={"label": label, "time": time, "numeric": list(numeric),
              "categorical": list(categorical), "rows": len(df)},
    )


def load_tabular(path: str | Path, *, label: str, time: str | None = None,
                 numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                 segments: Sequence[str] = (), prior_key: str | None = None,
                 strength: float = 20.0, name: str = "csv") -> Dataset:
    ds = from_frame(read_table(path), name=name, label=label, time=time, numeric=numeric,
                    categorical=categorical, segments=segments, prior_key=prior_key,
                    strength=strength)
    ds.meta["path"] = str(path)
    return ds
