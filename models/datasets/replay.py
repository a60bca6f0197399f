"""Rebuild, for every logged impression, the model row as of request time.

Every profile feature is the one the online scorer would have read. One feature
is computed here rather than read: ``ad_ctr_prior``, from the impressions and clicks known
before the request, by ``udfs.core.ad_stats.smoothed_ctr`` — the rule the feedback job's
ad statistics serve (``ctr_prior`` of the ``ad_stats`` view), so both mean the same.

One time-ordered pass over the merged clickstream and impression log: the
profile logic (``udfs.core.profile.apply/snapshot``) is folded forward event by
event, and each impression is featurized (``udfs.core.featurize.Featurizer``) from
the state holding only events with ``ts`` strictly before the request. The ad's
``ctr_prior`` is kept the same way from impressions and clicks known before the
request. Nothing after an impression can reach its row: at equal timestamps
reads happen before writes.

The user's attributes (``user_attributes``, when given) join each row as the scorer's read
joins them: with the profile, alone for a user without one (or whose profile expired).
Searches fold into search intent through ``params.keywords``, as in the profile job.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from udfs.core.ad_stats import smoothed_ctr   # one rule online and offline: the feedback job's
from udfs.core.featurize import AdView, Featurizer, RequestView, attributes_only
from udfs.core.profile import EventView, ProfileParams, ProfileState, apply, expired, snapshot

# Action kinds in processing order at one timestamp: read first, then writes.
_READ, _EVENT, _IMP, _CLICK = 0, 1, 2, 3


@dataclass(frozen=True)
class AdInfo:
    category_id: str | None
    brand_id: str | None
    price: float


def _opt(v) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)


@dataclass(frozen=True, eq=False)
class _Columns:
    """The event and impression columns the replay reads, optional ones filled with their defaults."""
    ev_ts: np.ndarray
    e_user: np.ndarray
    e_type: np.ndarray
    e_cat: np.ndarray
    e_brand: np.ndarray
    e_price: np.ndarray
    e_query: np.ndarray
    im_ts: np.ndarray
    rq_ts: np.ndarray
    click_ts: np.ndarray
    clicked: np.ndarray       # rows of the clicked impressions
    i_user: np.ndarray        # "" for an anonymous visitor
    i_cre: np.ndarray
    i_pos: np.ndarray
    i_dev: np.ndarray
    i_page: np.ndarray


def _columns(events: pd.DataFrame, impressions: pd.DataFrame) -> _Columns:
    """Read the inputs once into arrays (see :func:`replay_rows` for which columns are optional)."""
    n_imp = len(impressions)
    im_ts = impressions["ts"].to_numpy(np.int64)
    # The scorer ran when the request arrived, before the impression was logged.
    rq_ts = (impressions["request_ts"].fillna(impressions["ts"]).to_numpy(np.int64)
             if "request_ts" in impressions else im_ts)
    clicks = impressions["click"].to_numpy(np.int8)
    click_ts = (impressions["click_ts"].fillna(impressions["ts"]).to_numpy(np.int64)
                if "click_ts" in impressions else im_ts)
    return _Columns(
        ev_ts=events["ts"].to_numpy(np.int64),
        e_user=events["user_id"].astype(str).to_numpy(),
        e_type=events["type"].to_numpy(),
        e_cat=events["category_id"].to_numpy() if "category_id" in events else np.full(len(events), None),
        e_brand=events["brand_id"].to_numpy() if "brand_id" in events else np.full(len(events), None),
        e_price=events["price"].to_numpy() if "price" in events else np.full(len(events), None),
        e_query=events["query"].to_numpy() if "query" in events else np.full(len(events), None),
        im_ts=im_ts, rq_ts=rq_ts, click_ts=click_ts, clicked=np.flatnonzero(clicks > 0),
        i_user=impressions["user_id"].fillna("").astype(str).to_numpy(),
        i_cre=impressions["creative_id"].astype(str).to_numpy(),
        i_pos=impressions["position"].to_numpy() if "position" in impressions else np.ones(n_imp),
        i_dev=(impressions["device"].to_numpy() if "device" in impressions
               else np.full(n_imp, "mobile")),
        i_page=(impressions["page_category"].to_numpy() if "page_category" in impressions
                else np.full(n_imp, None)))


def _timeline(c: _Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every action as (kind, ref) and the order to take them in.

    One read per impression at its request time, one write per event, per
    impression (at impression time) and per click; ``ref`` is the row in its own
    table. Ordered by time, then kind (reads before writes), then row.
    """
    n_imp, n_ev = len(c.im_ts), len(c.ev_ts)
    ts = np.concatenate([c.rq_ts, c.ev_ts, c.im_ts, c.click_ts[c.clicked]])
    kind = np.concatenate([np.full(n_imp, _READ), np.full(n_ev, _EVENT),
                           np.full(n_imp, _IMP), np.full(len(c.clicked), _CLICK)]).astype(np.int8)
    ref = np.concatenate([np.arange(n_imp), np.arange(n_ev), np.arange(n_imp), c.clicked])
    return kind, ref, np.lexsort((ref, kind, ts))


class _Replay:
    """The state folded forward so far: each user's profile and each ad's impression and click counts."""

    def __init__(self, c: _Columns, ads: Mapping[str, AdInfo], params: ProfileParams,
                 fz: Featurizer, prior_ctr: float, prior_strength: float,
                 attributes: Mapping[str, Mapping] | None = None):
        self.c, self.ads, self.params, self.fz = c, ads, params, fz
        self.attributes = attributes or {}
        self.prior_ctr, self.prior_strength = prior_ctr, prior_strength
        self.states: dict[str, ProfileState] = {}
        self.snaps: dict[str, dict] = {}     # user -> snapshot, dropped when the state changes
        self.ad_imps: dict[str, int] = {}
        self.ad_clicks: dict[str, int] = {}

    def event(self, r: int) -> None:
        """Fold clickstream event ``r`` into its user's profile."""
        c = self.c
        u = c.e_user[r]
        price = c.e_price[r]
        price = None if price is None or (isinstance(price, float) and np.isnan(price)) else float(price)
        apply(self.states.setdefault(u, ProfileState()),
              EventView(int(c.ev_ts[r]), str(c.e_type[r]), _opt(c.e_cat[r]), _opt(c.e_brand[r]), price,
                        _opt(c.e_query[r])),
              self.params)
        self.snaps.pop(u, None)

    def row(self, r: int) -> np.ndarray:
        """Impression ``r``'s model row from the state as it stands (its request time)."""
        c, params = self.c, self.params
        u = c.i_user[r]
        st = self.states.get(u) if u else None  # "" = anonymous visitor: no profile
        attrs = self.attributes.get(u) if u else None
        profile = attributes_only(attrs)
        if st is not None and not expired(st, int(c.rq_ts[r]), params):
            profile = self.snaps.get(u)
            if profile is None:
                profile = self.snaps[u] = {**snapshot(st, params), **(attrs or {})}
        cre = c.i_cre[r]
        info = self.ads.get(cre) or AdInfo(None, None, 0.0)
        ad = AdView(cre, info.category_id, info.brand_id, float(info.price),
                    smoothed_ctr(self.ad_clicks.get(cre, 0), self.ad_imps.get(cre, 0),
                                 self.prior_ctr, self.prior_strength))
        req = RequestView(int(c.rq_ts[r]), str(c.i_dev[r]), _opt(c.i_page[r]), int(c.i_pos[r]))
        return self.fz.matrix(profile, [ad], req)[0]


def replay_rows(events: pd.DataFrame, impressions: pd.DataFrame, ads: Mapping[str, AdInfo],
                params: ProfileParams, prior_ctr: float, prior_strength: float,
                progress=None, attributes: Mapping[str, Mapping] | None = None) -> np.ndarray:
    """Model rows (float32, ``model_feature_names`` order) for ``impressions``, in their row order.

    ``events``: user_id, ts, type, category_id, brand_id, price.
    ``impressions``: user_id, ts (impression time), request_ts (optional; when the
    scorer ran, defaults to ts), creative_id, position, device, page_category
    (optional), click (0/1), click_ts (optional; defaults to ts).
    ``progress``: anything with ``update(n)``, told of the events folded in.
    ``events`` may carry ``query`` (searches: search intent through ``params.keywords``);
    ``attributes``: user id → the ``user_attributes`` row the scorer would read.
    """
    fz = Featurizer(params.windows_s)
    cols = _columns(events, impressions)
    out = np.zeros((len(impressions), len(fz.names)), dtype=np.float32)
    kind, ref, seq = _timeline(cols)
    state = _Replay(cols, ads, params, fz, prior_ctr, prior_strength, attributes)
    done = 0
    for j in seq:
        k, r = kind[j], ref[j]
        if k == _EVENT:
            state.event(r)
            done += 1
            if progress is not None and done % 20_000 == 0:
                progress.update(20_000)
        elif k == _READ:
            out[r] = state.row(r)
        elif k == _IMP:
            state.ad_imps[cols.i_cre[r]] = state.ad_imps.get(cols.i_cre[r], 0) + 1
        else:
            state.ad_clicks[cols.i_cre[r]] = state.ad_clicks.get(cols.i_cre[r], 0) + 1
    if progress is not None:
        progress.update(done % 20_000)
    return out
