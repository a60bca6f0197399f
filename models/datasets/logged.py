"""Labels from the feedback log, and features from the offline store.

Two sources of training rows:

- The **training log** (``training_log``, ``feast_training_rows``): what the feedback job
  logged for every attributed impression — the exact float32 feature row the model scored,
  its model version and variant, and the click/conversion labels once the click window
  closed (late conversions as higher revisions; the highest is kept). Read straight from
  its parquet store or through Feast's ``get_historical_features`` on the ``training_log``
  view (features/training_log.py). ``by_feature_set`` keeps one feature order (and counts
  the rest), ``logged_dataset`` turns those rows into a ``Dataset`` as they were scored, with
  inverse-propensity resampling (``ips_resample``) when a ``propensity`` column is present;
  ``adstream model retrain`` (models/retrain.py) trains on it.
- Rows **rebuilt as of request time** by replaying the clickstream (``replay``), labelled by
  ``attach_labels``; ``pit_profiles``/``feast_pit`` are the point-in-time join of profiles
  for that path (unit-tested; no training path calls them yet).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models.datasets.common import Dataset, fingerprint_frame
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


def training_log(uri: str, *, feature_set: str | None = None, since_ms: int | None = None,
                 until_ms: int | None = None) -> pd.DataFrame:
    """The training log at ``uri`` (``cfg.feedback.training_log_uri``) as a reader should see it:
    one row per impression, its highest revision; ``since_ms <= ts < until_ms`` when given.
    ``feature_set``: keep only rows scored with that feature order
    (``udfs.core.features.feature_set_id``); rows of another order or of a rule-based fallback
    (no features) cannot train the same model."""
    from udfs.io.training_log_store import read
    df = read(uri, since_ms, until_ms).to_pandas()
    if feature_set is not None:
        df = df[df["feature_set"] == feature_set].reset_index(drop=True)
    return df


NO_FEATURES = "no features (a rule-based fallback answer)"


def by_feature_set(df: pd.DataFrame, feature_set: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """(rows scored with ``feature_set``, how many others were dropped and why).

    A row's ``features`` are positional: with another order (another model's or another
    config's feature list) its numbers would land in the wrong columns, and a fallback answer
    has no row at all. The reasons are the dict's keys, counted."""
    keep = df["feature_set"] == feature_set
    dropped: dict[str, int] = {}
    for fs, n in df.loc[~keep, "feature_set"].value_counts().sort_index().items():
        dropped[NO_FEATURES if fs == "" else f"another feature order ({fs})"] = int(n)
    return df[keep].reset_index(drop=True), dropped


def ips_resample(propensity: np.ndarray, clip: float, seed: int) -> tuple[np.ndarray, dict]:
    """Row indices drawn (with replacement, as many as rows) with probability proportional to
    the inverse propensity capped at ``clip``, and a summary of the weights.

    Resampling by the weights is inverse-propensity weighting in expectation for a trainer
    that takes no per-row weights; the cap bounds the variance one rarely-shown row can add.
    A propensity must be in (0, 1]: a missing or zero one is an error, never guessed."""
    p = np.asarray(propensity, dtype=np.float64)
    if len(p) == 0 or not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p > 1):
        raise ValueError("propensity must be in (0, 1] on every row (the logging policy's probability "
                         "of showing the ad); rows without one cannot be weighted")
    w = np.minimum(1.0 / p, clip)
    idx = np.random.default_rng(seed).choice(len(p), size=len(p), replace=True, p=w / w.sum())
    return np.sort(idx), {"weighted": True, "clip": clip, "clipped_rows": int(np.sum(1.0 / p > clip)),
                          "weight_mean": float(w.mean()), "weight_max": float(w.max()),
                          "effective_rows": float(w.sum() ** 2 / np.sum(w ** 2))}


def logged_dataset(df: pd.DataFrame, names: Sequence[str], *, live: bool, ips_clip: float,
                   seed: int = 0) -> Dataset:
    """A ``Dataset`` of training-log rows of one feature order: ``X`` is the float32 rows exactly
    as the model scored them (no re-featurisation, so no training/serving skew), ``y`` the
    click, ``ts`` the impression time. ``names``: the columns of that order (the current model's
    signature). With a ``propensity`` column the rows are resampled by ``ips_resample``."""
    df = df.sort_values(["ts", "impression_id"], kind="stable").reset_index(drop=True)
    weights = {"weighted": False, "why": "the training log carries no propensity (exploration is planned)"}
    if "propensity" in df.columns:
        idx, weights = ips_resample(df["propensity"].to_numpy(), ips_clip, seed)
        df = df.iloc[idx].reset_index(drop=True)
    X, y = training_matrix(df)
    if len(df) and X.shape[1] != len(names):
        raise ValueError(f"logged rows have {X.shape[1]} features, the feature order names {len(names)}")
    frame = pd.DataFrame(X.reshape(len(df), len(names)), columns=list(names))
    return Dataset(
        name="training_log", X=frame, y=y, ts=df["ts"].to_numpy(np.int64), live=live,
        fingerprint=fingerprint_frame(frame, pd.DataFrame({"y": y, "ts": df["ts"].to_numpy(np.int64)})),
        segments={"position": df["rank"].astype(str).to_numpy(),
                  "served_by": df["model_version"].astype(str).to_numpy()},
        prior_key=df["creative_id"].astype(str).to_numpy(), defaults={n: None for n in names},
        meta={"features_from": "the training log (rows as scored)", "rows": len(df),
              "conversions": int(df["conversions"].gt(0).sum()), "weights": weights})


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
