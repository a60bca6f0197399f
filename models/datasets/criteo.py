"""Criteo display-advertising logs: ``Label, I1..I13`` (counts) and ``C1..C26`` (hashed categories).

Reads the Kaggle layout (tab-separated, no header) or a CSV with a header
(``Id,Label,I1..``, as in the shared sample). Rows are in time order in the
original file (no timestamps), so row order is the time axis for the split.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.datasets.common import Dataset
from models.datasets.tabular import from_frame

INTS = [f"I{i}" for i in range(1, 14)]
CATS = [f"C{i}" for i in range(1, 27)]


def read_criteo(path: str | Path, nrows: int | None = None) -> pd.DataFrame:
    p = Path(path)
    with open(p) as f:
        head = f.readline()
    if "\t" in head and not head.lower().startswith(("label", "id")):
        df = pd.read_csv(p, sep="\t", header=None, names=["Label", *INTS, *CATS], nrows=nrows,
                         dtype={c: "string" for c in CATS})
    else:
        df = pd.read_csv(p, nrows=nrows, dtype={c: "string" for c in CATS})
        df = df.rename(columns={c: "Label" for c in df.columns if c.lower() == "label"})
    missing = [c for c in ["Label", *INTS, *CATS] if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: not a Criteo file, missing columns {missing[:5]}")
    return df


def load_criteo(path: str | Path, nrows: int | None = None, strength: float = 20.0) -> Dataset:
    ds = from_frame(read_criteo(path, nrows), name="criteo", label="Label", numeric=INTS,
                    categorical=CATS, strength=strength)
    ds.meta["path"] = str(path)
    return ds
