"""The clickstreams the interests jobs read, as one frame shape, and the profiles folded from them.

Every reader returns columns ``user_id, ts (epoch ms), type, category_id, brand_id, price``
with ``type`` one of the clickstream's event types, so segments, affinities and the evaluation
run the same code on a synthetic world and on the Taobao UserBehavior sample. Profiles are
folded with the profile job's own fold (``udfs.core.profile``), so a user's offline vector is
the one the profile job would hold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets import world_layout as layout
from udfs.core import profile as P

COLUMNS = ["user_id", "ts", "type", "category_id", "brand_id", "price"]
# Taobao's behaviour types as the clickstream's (udfs.messages.clickstream.EVENT_TYPES)
TAOBAO_TYPES = {"pv": "view", "fav": "fav", "cart": "cart", "buy": "purchase"}


def world_events(world_dir: str | Path) -> pd.DataFrame:
    path = layout.table(world_dir, "events")
    if not path.exists():
        raise FileNotFoundError(f"{world_dir}: no events table; run 'adstream generate --out {world_dir}'")
    return pd.read_parquet(path, columns=COLUMNS).sort_values("ts", kind="stable").reset_index(drop=True)


def taobao_events(csv_path: str | Path) -> pd.DataFrame:
    """The UserBehavior CSV (user, item, category, behaviour, unix s; no header). Brands are not
    in it: ``brand_id`` is None. Rows outside the official 9-day window (known dirt) are dropped."""
    df = pd.read_csv(csv_path, header=None, names=["user_id", "item_id", "category_id", "behavior", "ts_s"],
                     dtype={"user_id": str, "item_id": str, "category_id": str, "behavior": str})
    lo, hi = 1511539200, 1512316800   # 2017-11-25 .. 2017-12-03 (Asia/Shanghai), the dataset's window
    df = df[(df["ts_s"] >= lo) & (df["ts_s"] < hi) & df["behavior"].isin(TAOBAO_TYPES)]
    out = pd.DataFrame({"user_id": df["user_id"], "ts": df["ts_s"].astype(np.int64) * 1000,
                        "type": df["behavior"].map(TAOBAO_TYPES), "category_id": df["category_id"],
                        "brand_id": None, "price": np.nan})
    return out.sort_values(["ts", "user_id"], kind="stable").reset_index(drop=True)


def fold_profiles(events: pd.DataFrame, params: P.ProfileParams) -> dict[str, dict]:
    """Each user's profile snapshot after all of ``events`` (in time order), by the profile fold."""
    states: dict[str, P.ProfileState] = {}
    cols = [events[c].to_numpy() for c in COLUMNS]
    for user, ts, typ, cat, brand, price in zip(*cols):
        st = states.get(user)
        if st is None:
            st = states[user] = P.ProfileState()
        P.apply(st, P.EventView(int(ts), str(typ), _text(cat), _text(brand), _price(price)), params)
    return {u: P.snapshot(st, params) for u, st in states.items()}


def _text(v) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _price(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def read_profiles(parquet: str | Path) -> dict[str, dict]:
    """Profile snapshots from a parquet with ``user_id`` and profile feature columns (the offline
    store's ``user_profile`` shape); the newest row per user when there are several."""
    df = pd.read_parquet(parquet)
    if "user_id" not in df:
        raise ValueError(f"{parquet}: needs a user_id column and the profile features")
    if "event_timestamp" in df:
        df = df.sort_values("event_timestamp", kind="stable")
    df = df.drop_duplicates("user_id", keep="last")
    rows = df.to_dict("records")
    return {str(r.pop("user_id")): {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in r.items()}
            for r in rows}
