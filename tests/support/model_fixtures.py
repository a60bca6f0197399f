"""Tiny, seeded data for the model tests: a live-feature world and a tabular log.

The world is small enough to replay in milliseconds but has a real signal
(users click ads of the categories they browse), so a few trees learn it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets.common import Dataset, fingerprint_frame
from models.datasets.replay import AdInfo, replay_rows
from models.datasets.tabular import from_frame
from udfs import config
from udfs.core.features import model_feature_names
from udfs.core.profile import ProfileParams

T0 = 1_764_547_200_000
CATS = [f"c{i}" for i in range(5)]


def model_config(tmp: Path | None = None, **model):
    sets = [f"model.{k}={v}" for k, v in {"max_rounds": 30, "budget": 2, "cv_folds": 2,
                                          "early_stopping_rounds": 5, **model}.items()]
    if tmp is not None:
        sets.append(f"paths.model_registry={tmp}")
    return config.load("test", overrides=sets)


def tiny_world(seed: int = 0, users: int = 40, events: int = 1500, imps: int = 1500):
    rng = np.random.default_rng(seed)
    fav = {f"u{u}": CATS[u % len(CATS)] for u in range(users)}
    ev_user = rng.choice(list(fav), events)
    ev = pd.DataFrame({
        "user_id": ev_user,
        "ts": np.sort(T0 + rng.integers(0, 3 * 86_400_000, events)),
        "type": rng.choice(["view", "view", "view", "cart", "search", "purchase"], events),
        "category_id": [fav[u] if rng.random() < 0.8 else rng.choice(CATS) for u in ev_user],
        "brand_id": rng.choice(["b0", "b1", "b2"], events),
        "price": rng.uniform(5, 100, events).round(2),
    })
    ads = {f"cr{i}": AdInfo(CATS[i % len(CATS)], f"b{i % 3}", float(10 + 7 * i)) for i in range(10)}
    im_user = rng.choice(list(fav), imps)
    cre = rng.choice(list(ads), imps)
    ts = T0 + 3_600_000 + np.sort(rng.integers(0, 3 * 86_400_000 - 3_600_000, imps))
    p = np.where([fav[u] == ads[c].category_id for u, c in zip(im_user, cre)], 0.35, 0.04)
    click = (rng.random(imps) < p).astype(np.int8)
    im = pd.DataFrame({"impression_id": [f"im{i}" for i in range(imps)], "user_id": im_user,
                       "creative_id": cre, "ts": ts, "position": rng.integers(1, 4, imps),
                       "device": rng.choice(["mobile", "desktop"], imps), "page_category": None,
                       "click": click, "click_ts": np.where(click > 0, ts + 4000, ts), "p": p})
    return ev, im, ads


def live_dataset(cfg, seed: int = 0, **kw) -> Dataset:
    ev, im, ads = tiny_world(seed, **kw)
    w = tuple(cfg.profile.windows.count_windows_s)
    X = pd.DataFrame(replay_rows(ev, im, ads, ProfileParams.from_config(cfg.profile.windows),
                                 cfg.scoring.fallback_prior_ctr, cfg.model.prior_strength),
                     columns=model_feature_names(w))
    y = im["click"].to_numpy()
    return Dataset(name="synthetic", X=X, y=y, ts=im["ts"].to_numpy(), live=True,
                   fingerprint=fingerprint_frame(X, pd.DataFrame({"y": y})),
                   segments={"user": np.where(X["known_user"] > 0, "returning", "new")},
                   prior_key=im["creative_id"].to_numpy(), oracle=im["p"].to_numpy())


def tabular_frame(seed: int = 0, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.choice(["s0", "s1", "s2", "s3"], n)
    x = rng.normal(size=n)
    z = -2.5 + 1.2 * x + np.where(site == "s1", 1.0, 0.0)
    return pd.DataFrame({"ts": T0 + np.arange(n) * 1000, "x": x, "noise": rng.normal(size=n),
                         "site": site, "click": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)})


def tabular_dataset(seed: int = 0, n: int = 2000) -> Dataset:
    return from_frame(tabular_frame(seed, n), name="csv", label="click", time="ts",
                      numeric=["x", "noise"], categorical=["site"], segments=["site"], prior_key="site")
