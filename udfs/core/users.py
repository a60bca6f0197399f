"""The user table (user attributes): its columns, what a valid one is, and its rows as the scorer reads them.

A user table has one row per user: ``user_id`` (required, unique, non-empty), and any of
``age_band``, ``gender``, ``region``, ``registered_ts`` (epoch ms; a ``registered`` date or
datetime column is taken instead), ``membership_tier`` — the ``user_attributes`` feature view's
columns (``udfs.core.features.ATTRIBUTE_FEATURES``). A missing optional column is unknown for
every user ("" / 0). Values outside the model's vocabularies (``features.AGE_BANDS``,
``GENDERS``, ``MEMBERSHIP_TIERS``) are kept — targeting matches them as text — and counted as
warnings, because the model reads them as unknown.

Pure: a DataFrame in, a DataFrame out; ``adstream users load`` does the I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from udfs.core.features import AGE_BANDS, ATTRIBUTE_FEATURES, ENTITY_KEY, GENDERS, MEMBERSHIP_TIERS, NEVER

COLUMNS = [f.name for f in ATTRIBUTE_FEATURES]
_VOCAB = {"age_band": AGE_BANDS, "gender": GENDERS, "membership_tier": MEMBERSHIP_TIERS}


class TableError(ValueError):
    """The table cannot be loaded; the message says what to fix."""


@dataclass
class Checked:
    table: pd.DataFrame                  # user_id + COLUMNS, typed, one row per user
    warnings: list[str] = field(default_factory=list)


def _registered_ms(df: pd.DataFrame) -> np.ndarray:
    if "registered_ts" in df:
        v = pd.to_numeric(df["registered_ts"], errors="coerce")
        if v.isna().any():
            raise TableError(f"registered_ts: {int(v.isna().sum())} values are not epoch milliseconds")
        return v.astype(np.int64).to_numpy()
    if "registered" in df:
        t = pd.to_datetime(df["registered"], errors="coerce", utc=True)
        if t.isna().any():
            raise TableError(f"registered: {int(t.isna().sum())} values are not dates (YYYY-MM-DD)")
        return (t.astype("int64") // 1_000_000).to_numpy(np.int64)
    return np.full(len(df), NEVER, dtype=np.int64)


def check(df: pd.DataFrame) -> Checked:
    """The table as the view stores it; TableError when it cannot be loaded."""
    if ENTITY_KEY not in df:
        raise TableError(f"no {ENTITY_KEY!r} column (columns: {', '.join(map(str, df.columns))})")
    ids = df[ENTITY_KEY].astype("string")
    if ids.isna().any() or (ids.str.len() == 0).any():
        raise TableError(f"{ENTITY_KEY}: {int((ids.isna() | (ids.str.len() == 0)).sum())} empty ids")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise TableError(f"{ENTITY_KEY}: {len(dup)} duplicated ids, e.g. {dup.iloc[0]!r} (one row per user)")
    out = pd.DataFrame({ENTITY_KEY: ids.astype(str).to_numpy()})
    warnings = []
    for name in ("age_band", "gender", "region", "membership_tier"):
        col = df[name].fillna("").astype(str) if name in df else pd.Series([""] * len(df))
        out[name] = col.str.strip().to_numpy()
        if name in _VOCAB:
            odd = sorted(set(out[name]) - set(_VOCAB[name]) - {""})
            if odd:
                warnings.append(f"{name}: values the model reads as unknown: {', '.join(odd[:5])}"
                                f"{' …' if len(odd) > 5 else ''} (known: {', '.join(_VOCAB[name])})")
        if name not in df:
            warnings.append(f"{name}: no such column; unknown for every user")
    out["registered_ts"] = _registered_ms(df)
    return Checked(out[[ENTITY_KEY, *COLUMNS]], warnings)


def attribute_rows(df: pd.DataFrame) -> dict[str, dict]:
    """user id → the attribute mapping the scorer's read gives for that user (unknowns as the
    store holds them: "" and 0)."""
    t = check(df).table
    rows: dict[str, dict] = {}
    for rec in t.to_dict("records"):
        uid = rec.pop(ENTITY_KEY)
        rows[uid] = {k: (int(v) if k == "registered_ts" else v) for k, v in rec.items()}
    return rows
