"""The generator's world (``adstream generate``) as training rows the live scorer would have built.

Labels: clicks (the ``ad_clicks`` table) and conversions joined to impressions
within the attribution windows (``cfg.model``). Features: rebuilt by ``replay`` —
the profile logic over each user's clickstream strictly before the request, the
ad's CTR prior from impressions and clicks known before it, and
``udfs.core.featurize.Featurizer`` (a world holds no serving log: nothing logs what the
scorer served yet). The files are found through ``models.datasets.world_layout``. Columns are
``udfs.core.features.model_feature_names(windows)``: this model can go live.
The generator's ``p_click_oracle`` comes along for the oracle comparison, and
``latent_clickiness`` only to derive the *observable* oracle — the oracle's
logit minus the per-user clickiness term that the generator documents as
unrecoverable by any feature. Neither ever reaches a feature column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from models.datasets.common import Dataset, fingerprint_frame
from models.datasets.logged import attach_labels
from models.datasets.replay import AdInfo, replay_rows
from models.datasets import world_layout as layout
from udfs.core.features import model_feature_names
from udfs.core.profile import ProfileParams
from udfs.core.users import attribute_rows
from udfs.io import keyword_map

EVENT_COLS = ["user_id", "ts", "type", "category_id", "brand_id", "price", "query"]


def _read(d: Path, name: str, cols: list[str] | None = None) -> pd.DataFrame | None:
    p = layout.table(d, name)
    return pd.read_parquet(p, columns=cols) if p.exists() else None


def load_synthetic(path: str | Path, cfg, progress: bool = True) -> Dataset:
    d = Path(path)
    imps = _read(d, "impressions")
    events = _read(d, "events", EVENT_COLS)
    creatives = _read(d, "creatives", ["creative_id", "category_id", "brand_id", "price"])
    if imps is None or events is None or creatives is None:
        raise FileNotFoundError(f"{d}: not a synthetic world (needs impressions, events and creatives "
                                f"parquet; run 'adstream generate --out {d}')")
    m = cfg.model
    reqs = _read(d, "requests", ["request_id", "ts"])
    if reqs is not None:
        imps = imps.merge(reqs.rename(columns={"ts": "request_ts"}), on="request_id", how="left")
    else:
        imps["request_ts"] = imps["ts"]
    imps = imps.sort_values(["request_ts", "impression_id"], kind="stable").reset_index(drop=True)
    keep = ["impression_id", "request_id", "user_id", "creative_id", "ts", "request_ts", "position",
            "device", "page_category", "p_click_oracle", "latent_clickiness"]
    labelled = attach_labels(imps[[c for c in keep if c in imps.columns]], _read(d, "ad_clicks"), _read(d, "conversions"),
                             m.click_window_s, m.conversion_window_s)
    windows = tuple(cfg.profile.windows.count_windows_s)
    names = model_feature_names(windows)
    # search intent through the configured keyword map, as the profile job folds it
    params = ProfileParams.from_config(cfg.profile.windows, keyword_map.load(cfg.profile.keyword_map))
    ads = {str(r.creative_id): AdInfo(r.category_id, r.brand_id, float(r.price))
           for r in creatives.itertuples(index=False)}
    bar = tqdm(total=len(events), desc="replay", unit="ev", disable=not progress, leave=False)
    X = pd.DataFrame(replay_rows(events.sort_values("ts", kind="stable"), labelled, ads, params,
                                 cfg.scoring.fallback_prior_ctr, m.prior_strength, bar,
                                 attributes=_attributes(d)), columns=names)
    bar.close()
    source = "replay of the clickstream (request-time profile)"
    y = labelled["click"].to_numpy(np.int8)
    cat = labelled["creative_id"].map(creatives.set_index("creative_id")["category_id"]).fillna("?")
    return Dataset(
        name="synthetic", X=X, y=y, ts=labelled["request_ts"].to_numpy(np.int64),
        fingerprint=fingerprint_frame(X, pd.DataFrame({"y": y})), live=True,
        segments={"user": np.where(X["known_user"].to_numpy() > 0, "returning", "new"),
                  "category": cat.astype(str).to_numpy(),
                  "position": labelled["position"].astype(str).to_numpy()},
        prior_key=labelled["creative_id"].astype(str).to_numpy(),
        oracle=labelled["p_click_oracle"].to_numpy(np.float64) if "p_click_oracle" in labelled else None,
        oracle_observable=_observable(labelled),
        defaults={f: None for f in names},
        meta={"path": str(d), "features_from": source, "rows": len(labelled),
              "conversions": int(labelled["conversion"].sum())},
    )


def _attributes(d: Path) -> dict[str, dict] | None:
    """The world's user table as the rows the scorer reads (None when the world has none)."""
    df = _read(d, "user_attributes")
    return None if df is None else attribute_rows(df)


def _observable(df: pd.DataFrame) -> np.ndarray | None:
    """sigmoid(logit(p_click_oracle) - latent_clickiness): the ceiling for any feature set."""
    if "p_click_oracle" not in df or "latent_clickiness" not in df:
        return None
    p = np.clip(df["p_click_oracle"].to_numpy(np.float64), 1e-9, 1 - 1e-9)
    z = np.log(p) - np.log1p(-p) - df["latent_clickiness"].fillna(0.0).to_numpy(np.float64)
    return 1.0 / (1.0 + np.exp(-z))
