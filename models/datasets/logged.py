"""Labels from the feedback log, and features from the offline store.

Two sources of training rows:

- The **training log** (``training_log``, ``feast_training_rows``): what the feedback job
  logged for every attributed impression — the exact float32 feature row the model scored,
  its model version and variant, and the click/conversion labels once the click window
  closed (late conversions as higher revisions; the highest is kept). Read straight from
  its parquet store or through Feast's ``get_historical_features`` on the ``training_log``
  view (features/training_log.py).
- Rows **rebuilt as of request time** by replaying the clickstream (``replay``), labelled by
  ``attach_labels``; ``pit_profiles``/``feast_pit`` are the point-in-time join of profiles
  for that path (unit-tested; no training path calls them yet).
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


def training_log(uri: str, *, feature_set: str | None = None) -> pd.DataFrame:
    """The training log at ``uri`` (``cfg.feedback.training_log_uri``) as a reader should see it:
    one row per impression, its highest revision. ``feature_set``: keep only rows scored with
    that feature order (``udfs.core.features.feature_set_id``); rows of another order or of a
    rule-based fallback (no features) cannot train the same model."""
    from udfs.io.training_log_store import read
    df = read(uri).to_pandas()
    if feature_set is not None:
        df = df[df["feature_set"] == feature_set].reset_index(drop=True)
    return df


def training_matrix(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(X float32, clicked int8) of training-log rows that carry one feature order."""
    sets = set(df["feature_set"])
    if len(sets) > 1:
        raise ValueError(f"rows of {len(sets)} feature orders {sorted(sets)}: filter by feature_set first")
    if len(df) == 0:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int8)
    X = np.array([np.asarray(r, dtype=np.float32) for r in df["features"]], dtype=np.float32)
    return X, df["clicked"].to_numpy(np.int8)


def feast_training_rows(store, uri: str, as_of_ms: int, features: Sequence[str] | str = "training_rows"
                        ) -> pd.DataFrame:
    """The training log through Feast: each impression's labels as known at ``as_of_ms``.

    ``store``: a FeatureStore with the ``training_log`` view applied; ``features``: a feature
    service name or ``view:feature`` references. Entity rows are the impressions whose first
    revision was written by ``as_of_ms`` (asking Feast 0.67's file store for an impression it
    has no row for fails inside dask, so only those are asked)."""
    from udfs.io.training_log_store import read_all
    t = read_all(uri).select(["impression_id", "labelled_at"]).to_pandas()
    cutoff = pd.Timestamp(as_of_ms, unit="ms", tz="UTC")
    ids = t[t["labelled_at"] <= cutoff]["impression_id"].drop_duplicates().sort_values()
    entity_df = pd.DataFrame({"impression_id": ids.to_numpy(),
                              "event_timestamp": pd.Series([cutoff] * len(ids), dtype="datetime64[ms, UTC]")})
    if isinstance(features, str):
        features = store.get_feature_service(features)
    out = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    return out.sort_values("impression_id").reset_index(drop=True)
