"""Labels from the feedback log, and features from the offline store.

The scorer logs no features (a *serving log*, what the model really saw, is not
built), so training rows are rebuilt as of request time — by replaying the
clickstream (``replay``). A point-in-time join against the offline store — the
latest profile snapshot strictly before the request (``pit_profiles`` in pandas, or ``feast_pit``
through Feast's ``get_historical_features``) — is written and unit-tested
(``pit_profiles``) but no training path calls it yet: nothing writes the offline
store today (planned: the feedback job's training log).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from udfs.core.features import served_profile_features


def attach_labels(impressions: pd.DataFrame, clicks: pd.DataFrame | None,
                  conversions: pd.DataFrame | None, click_window_s: int,
                  conversion_window_s: int) -> pd.DataFrame:
    """Add ``click``/``click_ts`` and ``conversion`` to impressions, within the attribution windows.

    A click counts for its impression when ``0 <= click.ts - imp.ts <= click_window``
    (the first such click); a conversion when within ``conversion_window`` of the
    impression. Later feedback is a negative: the label is what was knowable when
    the window closed.
    """
    imp = impressions.copy()
    imp["click"] = 0
    imp["click_ts"] = pd.NA
    if clicks is not None and len(clicks):
        c = clicks[["impression_id", "ts"]].merge(imp[["impression_id", "ts"]], on="impression_id",
                                                  suffixes=("", "_imp"))
        dt = c["ts"] - c["ts_imp"]
        c = c[(dt >= 0) & (dt <= click_window_s * 1000)]
        first = c.groupby("impression_id")["ts"].min()
        hit = imp["impression_id"].map(first)
        imp["click"] = hit.notna().astype(np.int8)
        imp["click_ts"] = hit
    imp["conversion"] = 0
    if conversions is not None and len(conversions):
        v = conversions[["impression_id", "ts"]].merge(imp[["impression_id", "ts"]], on="impression_id",
                                                       suffixes=("", "_imp"))
        dt = v["ts"] - v["ts_imp"]
        ok = set(v.loc[(dt >= 0) & (dt <= conversion_window_s * 1000), "impression_id"])
        imp["conversion"] = imp["impression_id"].isin(ok).astype(np.int8)
    return imp


def pit_profiles(entities: pd.DataFrame, profiles: pd.DataFrame,
                 windows_s: Sequence[int]) -> list[dict | None]:
    """Per entity row (user_id, ts), the latest stored profile with event time < ts.

    ``profiles``: user_id, event_timestamp (epoch ms) and profile feature columns —
    the offline store. Strictly earlier, so a profile written by the very event at
    request time is not used (the scorer could not have read it yet).
    """
    cols = [c for c in served_profile_features(windows_s) if c in profiles.columns]
    left = entities[["user_id", "ts"]].reset_index().rename(columns={"index": "_row"})
    left = left.assign(ts=left["ts"].astype(np.int64), user_id=left["user_id"].astype(str))
    right = profiles.assign(event_timestamp=profiles["event_timestamp"].astype(np.int64),
                            user_id=profiles["user_id"].astype(str))
    joined = pd.merge_asof(left.sort_values("ts"), right.sort_values("event_timestamp"),
                           left_on="ts", right_on="event_timestamp", by="user_id",
                           allow_exact_matches=False, direction="backward")
    joined = joined.sort_values("_row")
    out: list[dict | None] = []
    for rec, has in zip(joined[cols].to_dict("records"), joined["event_timestamp"].notna()):
        out.append(rec if has else None)
    return out


def feast_pit(repo_dir: str, feature_service: str, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time join through Feast: profile features as of 1 ms before each request.

    ``entities``: user_id, ts (epoch ms). Feast includes rows *at* the entity
    timestamp, so the request time is moved back by 1 ms to keep "strictly before".
    """
    from feast import FeatureStore  # optional dependency: only for this path

    store = FeatureStore(repo_path=repo_dir)
    entity_df = pd.DataFrame({
        "user_id": entities["user_id"].astype(str).to_numpy(),
        "event_timestamp": pd.to_datetime(entities["ts"].astype(np.int64) - 1, unit="ms", utc=True),
        "_row": np.arange(len(entities)),
    })
    service = store.get_feature_service(feature_service)
    out = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    return out.sort_values("_row").reset_index(drop=True)  # Feast does not keep the input order
