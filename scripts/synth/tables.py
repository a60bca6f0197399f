"""Turn the simulator's raw traffic into the world's time-ordered tables.

Sorting fixes the ids: events, requests and impressions are numbered in time
order (ties broken by user, then generation order), clicks and conversions in
the order they happen. Outcomes are drawn here, once every impression's oracle
probability is known: a click is Bernoulli(p_click), ~4 s after the impression
(1 s + log-normal, median 3 s); a conversion is Bernoulli(p_convert) after a
click, 30 s + exponential(15 min) later, worth the promoted item's price × 1 or 2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scripts.synth import oracle
from scripts.synth.policy import SLOTS, charge
from scripts.synth.world import GEOS, StaticWorld
from udfs.messages.clickstream import DEVICES, EVENT_TYPES

HOUR_MS = 3_600_000


@dataclass(frozen=True, eq=False)
class Streams:
    """The generated traffic, each table sorted by time (see docs/generator.md for columns)."""
    events: pd.DataFrame
    requests: pd.DataFrame
    impressions: pd.DataFrame
    ad_clicks: pd.DataFrame
    conversions: pd.DataFrame


@dataclass
class RawTraffic:
    """What the simulator logs, unsorted, by entity index.

    ``event_parts``: one dict of parallel arrays per user; ``requests``: tuples
    (user or -1, ts, slot, device, geo, page category or -1, eligible count);
    ``impressions``: tuples (request row, position, creative, category score,
    brand score, average viewed price).
    """
    event_parts: list[dict] = field(default_factory=list)
    requests: list[tuple] = field(default_factory=list)
    impressions: list[tuple] = field(default_factory=list)


def hour_of(ts_ms: np.ndarray | int) -> np.ndarray:
    """UTC hour of day of epoch-millisecond timestamps."""
    return (np.asarray(ts_ms, dtype=np.int64) // HOUR_MS) % 24


def _ids(prefix: str, n: int, width: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _none_if(values: np.ndarray, names: list[str] | tuple[str, ...], missing: int = -1) -> list:
    return [None if v == missing else names[v] for v in values.tolist()]


def _events_frame(w: StaticWorld, raw: RawTraffic) -> pd.DataFrame:
    parts = raw.event_parts
    col = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
           for k in ("user", "ts", "type", "item", "cat", "brand", "price", "device", "session", "seq")}
    query = [q for p in parts for q in p["query"]]
    order = np.lexsort((col["seq"], col["user"], col["ts"]))
    user_ids = [x.user_id for x in w.users]
    users = col["user"][order]
    return pd.DataFrame({
        "event_id": _ids("e", len(order), 7),
        "user_id": [user_ids[i] for i in users.tolist()],
        "ts": col["ts"][order],
        "type": [EVENT_TYPES[i] for i in col["type"][order].tolist()],
        "item_id": _none_if(col["item"][order], [x.item_id for x in w.items]),
        "category_id": [w.categories[i].category_id for i in col["cat"][order].tolist()],
        "brand_id": _none_if(col["brand"][order], [x.brand_id for x in w.brands]),
        "price": col["price"][order],
        "query": [query[i] for i in order.tolist()],
        "device": [DEVICES[i] for i in col["device"][order].tolist()],
        "geo": [w.users[i].geo for i in users.tolist()],
        "consent": np.ones(len(order), dtype=bool),
        "session_id": [f"{user_ids[u]}-s{s + 1:03d}" for u, s in
                       zip(users.tolist(), col["session"][order].tolist())],
    })


def assemble(w: StaticWorld, raw: RawTraffic, rng: np.random.Generator,
             params: oracle.OracleParams) -> Streams:
    """Sort the raw traffic into time order, give it ids, draw outcomes from the oracle."""
    events = _events_frame(w, raw)
    cat_ids = [c.category_id for c in w.categories]

    # Requests, in time order (ties: user order, then generation order).
    rq = raw.requests
    rq_user = np.array([r[0] for r in rq], dtype=np.int64)
    rq_ts = np.array([r[1] for r in rq], dtype=np.int64)
    order = np.lexsort((np.arange(len(rq)), np.where(rq_user < 0, len(w.users), rq_user), rq_ts))
    rank = np.empty(len(rq), dtype=np.int64)
    rank[order] = np.arange(len(rq))
    request_ids = _ids("rq", len(rq), 6)
    user_id = [None if r[0] < 0 else w.users[r[0]].user_id for r in rq]
    requests = pd.DataFrame({
        "request_id": request_ids,
        "user_id": [user_id[i] for i in order],
        "ts": rq_ts[order],
        "slot": [rq[i][2] for i in order],
        "num_ads": [SLOTS[rq[i][2]] for i in order],
        "device": [DEVICES[rq[i][3]] for i in order],
        "geo": [GEOS[rq[i][4]] for i in order],
        "page_category": [None if rq[i][5] < 0 else cat_ids[rq[i][5]] for i in order],
        "hour": hour_of(rq_ts[order]),
        "n_eligible": np.array([rq[i][6] for i in order], dtype=np.int64),
    })

    # Impressions, by request then position.
    imp = raw.impressions
    imp_req = np.array([rank[x[0]] for x in imp], dtype=np.int64)
    imp_pos = np.array([x[1] for x in imp], dtype=np.int64)
    iorder = np.lexsort((imp_pos, imp_req))
    imp = [imp[i] for i in iorder]
    req = imp_req[iorder]
    pos = imp_pos[iorder]
    cr = np.array([x[2] for x in imp], dtype=np.int64)
    creatives = w.creatives
    camps = {c.campaign_id: c for c in w.campaigns}
    user_idx = rq_user[order][req] if len(req) else np.zeros(0, dtype=np.int64)
    device = np.array([DEVICES.index(d) for d in requests["device"]], dtype=np.int64)[req]
    hour = requests["hour"].to_numpy()[req]
    page = requests["page_category"].to_numpy()[req]
    quality = np.array([creatives[c].quality for c in cr.tolist()])
    ad_price = np.array([creatives[c].price for c in cr.tolist()])
    clickiness = np.array([0.0 if u < 0 else w.users[u].clickiness for u in user_idx.tolist()])
    state = dict(cat_score=np.array([x[3] for x in imp]), brand_score=np.array([x[4] for x in imp]),
                 ad_price=ad_price, avg_viewed_price=np.array([x[5] for x in imp]))
    page_match = np.array([p == creatives[c].category_id for p, c in zip(page.tolist(), cr.tolist())],
                          dtype=float)
    p_click = oracle.p_click_batch(**state, device_index=device, position=pos, hour=hour,
                                   page_match=page_match, quality=quality, clickiness=clickiness,
                                   params=params)
    p_conv = oracle.p_convert_batch(**state, quality=quality, params=params)
    n = len(imp)
    clicked = rng.random(n) < p_click
    converted = clicked & (rng.random(n) < p_conv)
    imp_ts = requests["ts"].to_numpy()[req] + 25
    click_ts = imp_ts + 1000 + np.round(rng.lognormal(np.log(3000.0), 0.7, n)).astype(np.int64)
    conv_ts = click_ts + 30_000 + np.round(rng.exponential(15 * 60_000.0, n)).astype(np.int64)
    quantity = 1 + (rng.random(n) < 0.2)
    conv_value = np.round(ad_price * quantity, 2)

    click_rows = np.flatnonzero(clicked)
    click_rows = click_rows[np.argsort(click_ts[click_rows], kind="stable")]
    click_id = np.full(n, None, dtype=object)
    click_id[click_rows] = _ids("ck", len(click_rows), 6)
    conv_rows = np.flatnonzero(converted)
    conv_rows = conv_rows[np.argsort(conv_ts[conv_rows], kind="stable")]
    conv_id = np.full(n, None, dtype=object)
    conv_id[conv_rows] = _ids("cv", len(conv_rows), 6)

    impression_ids = _ids("im", n, 7)
    n_eligible = requests["n_eligible"].to_numpy()[req]
    shown = np.minimum(requests["num_ads"].to_numpy()[req], n_eligible)
    rq_ids = requests["request_id"].to_numpy()[req]
    users = requests["user_id"].to_numpy()[req]
    impressions = pd.DataFrame({
        "request_id": rq_ids,
        "impression_id": impression_ids,
        "user_id": users,
        "ad_id": [creatives[c].ad_id for c in cr.tolist()],
        "campaign_id": [creatives[c].campaign_id for c in cr.tolist()],
        "creative_id": [creatives[c].creative_id for c in cr.tolist()],
        "advertiser_id": [creatives[c].advertiser_id for c in cr.tolist()],
        "category_id": [creatives[c].category_id for c in cr.tolist()],
        "brand_id": [creatives[c].brand_id for c in cr.tolist()],
        "ad_price": ad_price,
        "ts": imp_ts,
        "position": pos,
        "slot": requests["slot"].to_numpy()[req],
        "device": requests["device"].to_numpy()[req],
        "geo": requests["geo"].to_numpy()[req],
        "hour": hour,
        "page_category": page,
        "price": [charge(camps[creatives[c].campaign_id].bid_type,
                          camps[creatives[c].campaign_id].bid) for c in cr.tolist()],
        "n_eligible": n_eligible,
        "propensity": shown / np.maximum(n_eligible, 1),
        "clicked": clicked,
        "click_id": click_id,
        "click_ts": np.where(clicked, click_ts, -1),
        "converted": converted,
        "conversion_id": conv_id,
        "conversion_ts": np.where(converted, conv_ts, -1),
        "conversion_value": np.where(converted, conv_value, 0.0),
        "p_click_oracle": p_click,
        "p_convert_oracle": p_conv,
        "oracle_cat_score": state["cat_score"],
        "oracle_brand_score": state["brand_score"],
        "oracle_avg_viewed_price": state["avg_viewed_price"],
        "latent_quality": quality,
        "latent_clickiness": clickiness,
    })

    ad_clicks = pd.DataFrame({
        "click_id": click_id[click_rows].tolist(),
        "impression_id": [impression_ids[i] for i in click_rows.tolist()],
        "request_id": rq_ids[click_rows].tolist(),
        "user_id": users[click_rows].tolist(),
        "ad_id": impressions["ad_id"].to_numpy()[click_rows].tolist(),
        "campaign_id": impressions["campaign_id"].to_numpy()[click_rows].tolist(),
        "ts": click_ts[click_rows],
    })
    conversions = pd.DataFrame({
        "conversion_id": conv_id[conv_rows].tolist(),
        "impression_id": [impression_ids[i] for i in conv_rows.tolist()],
        "click_id": click_id[conv_rows].tolist(),
        "user_id": users[conv_rows].tolist(),
        "campaign_id": impressions["campaign_id"].to_numpy()[conv_rows].tolist(),
        "ts": conv_ts[conv_rows],
        "value": conv_value[conv_rows],
    })
    return Streams(events=events, requests=requests, impressions=impressions,
                   ad_clicks=ad_clicks, conversions=conversions)
