"""Rebuild, for every logged impression, the model row as of request time.

Every profile feature is the one the online scorer would have read. One feature
is not: ``ad_ctr_prior`` is computed here from the impressions and clicks known
before the request, while the scorer today serves a constant
(``scoring.fallback_prior_ctr``) because no live ad statistics exist yet (planned:
the feedback job). The two agree only once serving reads the same statistic.

One time-ordered pass over the merged clickstream and impression log: the
profile logic (``udfs.core.profile.apply/snapshot``) is folded forward event by
event, and each impression is featurized (``udfs.core.featurize.Featurizer``) from
the state holding only events with ``ts`` strictly before the request. The ad's
``ctr_prior`` is kept the same way from impressions and clicks known before the
request (see above: serving does not compute it yet). Nothing after an impression can reach its row: at equal timestamps
reads happen before writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from udfs.core.featurize import AdView, Featurizer, RequestView
from udfs.core.profile import EventView, ProfileParams, ProfileState, apply, expired, snapshot

# Action kinds in processing order at one timestamp: read first, then writes.
_READ, _EVENT, _IMP, _CLICK = 0, 1, 2, 3


@dataclass(frozen=True)
class AdInfo:
    category_id: str | None
    brand_id: str | None
    price: float


def smoothed_ctr(clicks: float, imps: float, prior: float, strength: float) -> float:
    """``(clicks + a*prior) / (imps + a)``: the ad's CTR shrunk towards the prior."""
    return (clicks + strength * prior) / (imps + strength)


def _opt(v) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)


def replay_rows(events: pd.DataFrame, impressions: pd.DataFrame, ads: Mapping[str, AdInfo],
                params: ProfileParams, prior_ctr: float, prior_strength: float,
                progress=None) -> np.ndarray:
    """Model rows (float32, ``model_feature_names`` order) for ``impressions``, in their row order.

    ``events``: user_id, ts, type, category_id, brand_id, price.
    ``impressions``: user_id, ts (impression time), request_ts (optional; when the
    scorer ran, defaults to ts), creative_id, position, device, page_category
    (optional), click (0/1), click_ts (optional; defaults to ts).
    """
    fz = Featurizer(params.windows_s)
    n_imp = len(impressions)
    out = np.zeros((n_imp, len(fz.names)), dtype=np.float32)

    ev_ts = events["ts"].to_numpy(np.int64)
    im_ts = impressions["ts"].to_numpy(np.int64)
    # The scorer ran when the request arrived, before the impression was logged.
    rq_ts = (impressions["request_ts"].fillna(impressions["ts"]).to_numpy(np.int64)
             if "request_ts" in impressions else im_ts)
    clicks = impressions["click"].to_numpy(np.int8)
    click_ts = (impressions["click_ts"].fillna(impressions["ts"]).to_numpy(np.int64)
                if "click_ts" in impressions else im_ts)
    clicked = np.flatnonzero(clicks > 0)
    ts = np.concatenate([rq_ts, ev_ts, im_ts, click_ts[clicked]])
    kind = np.concatenate([np.full(n_imp, _READ), np.full(len(ev_ts), _EVENT),
                           np.full(n_imp, _IMP), np.full(len(clicked), _CLICK)]).astype(np.int8)
    ref = np.concatenate([np.arange(n_imp), np.arange(len(ev_ts)), np.arange(n_imp), clicked])
    seq = np.lexsort((ref, kind, ts))

    e_user = events["user_id"].astype(str).to_numpy()
    e_type = events["type"].to_numpy()
    e_cat = events["category_id"].to_numpy() if "category_id" in events else np.full(len(events), None)
    e_brand = events["brand_id"].to_numpy() if "brand_id" in events else np.full(len(events), None)
    e_price = events["price"].to_numpy() if "price" in events else np.full(len(events), None)
    i_user = impressions["user_id"].fillna("").astype(str).to_numpy()
    i_cre = impressions["creative_id"].astype(str).to_numpy()
    i_pos = impressions["position"].to_numpy() if "position" in impressions else np.ones(n_imp)
    i_dev = impressions["device"].to_numpy() if "device" in impressions else np.full(n_imp, "mobile")
    i_page = (impressions["page_category"].to_numpy() if "page_category" in impressions
              else np.full(n_imp, None))

    states: dict[str, ProfileState] = {}
    snaps: dict[str, dict] = {}          # user -> snapshot, dropped when the state changes
    ad_imps: dict[str, int] = {}
    ad_clicks: dict[str, int] = {}
    done = 0
    for j in seq:
        k, r = kind[j], ref[j]
        if k == _EVENT:
            u = e_user[r]
            price = e_price[r]
            price = None if price is None or (isinstance(price, float) and np.isnan(price)) else float(price)
            apply(states.setdefault(u, ProfileState()),
                  EventView(int(ev_ts[r]), str(e_type[r]), _opt(e_cat[r]), _opt(e_brand[r]), price),
                  params)
            snaps.pop(u, None)
            done += 1
            if progress is not None and done % 20_000 == 0:
                progress.update(20_000)
        elif k == _READ:
            u = i_user[r]
            st = states.get(u) if u else None  # "" = anonymous visitor: no profile
            profile = None
            if st is not None and not expired(st, int(rq_ts[r]), params):
                profile = snaps.get(u)
                if profile is None:
                    profile = snaps[u] = snapshot(st, params)
            cre = i_cre[r]
            info = ads.get(cre) or AdInfo(None, None, 0.0)
            ad = AdView(cre, info.category_id, info.brand_id, float(info.price),
                        smoothed_ctr(ad_clicks.get(cre, 0), ad_imps.get(cre, 0), prior_ctr, prior_strength))
            req = RequestView(int(rq_ts[r]), str(i_dev[r]), _opt(i_page[r]), int(i_pos[r]))
            out[r] = fz.matrix(profile, [ad], req)[0]
        elif k == _IMP:
            ad_imps[i_cre[r]] = ad_imps.get(i_cre[r], 0) + 1
        else:
            ad_clicks[i_cre[r]] = ad_clicks.get(i_cre[r], 0) + 1
    if progress is not None:
        progress.update(done % 20_000)
    return out
