"""Dataset loaders behind one entry point: ``load(fmt, path, cfg, ...)`` → ``Dataset``.

``synthetic`` (the generator's world; live model features rebuilt as served),
``openbandit``, ``criteo`` and ``csv`` (any CSV/parquet/JSONL with named columns).
"""
from __future__ import annotations

from typing import Sequence

from models.datasets.common import Dataset

FORMATS = ("synthetic", "openbandit", "criteo", "csv")


def load(fmt: str, path: str, cfg, *, label: str | None = None, time: str | None = None,
         numeric: Sequence[str] = (), categorical: Sequence[str] = (), segments: Sequence[str] = (),
         prior_key: str | None = None, nrows: int | None = None, progress: bool = True) -> Dataset:
    if fmt == "synthetic":
        from models.datasets.synthetic import load_synthetic
        return load_synthetic(path, cfg, progress=progress)
    if fmt == "openbandit":
        from models.datasets.openbandit import load_openbandit
        return load_openbandit(path)
    if fmt == "criteo":
        from models.datasets.criteo import load_criteo
        return load_criteo(path, nrows=nrows)
    if fmt == "csv":
        from models.datasets.tabular import load_tabular
        if not label:
            raise ValueError("--format csv needs --label COLUMN and --numeric/--categorical columns")
        return load_tabular(path, label=label, time=time, numeric=numeric, categorical=categorical,
                            segments=segments, prior_key=prior_key)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
