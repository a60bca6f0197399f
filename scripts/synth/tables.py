"""Turn the simulator's raw traffic into the world's time-ordered tables.

Sorting fixes the ids: events, requests and impressions are numbered in time
order (ties broken by user, then generation order), clicks and conversions in
the order they happen. Outcomes are drawn here, once every impression's oracle
probability is known: a click is Bernoulli(p_click), ~4 s after the impression
(1 s + log-normal, median 3 s); a conversion is Bernoulli(p_convert) after a
click, 30 s + exponential(15 min) later, worth the promoted item's price × 1 or 2.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scripts.synth import oracle
from scripts.synth.policy import SLOTS, charge
from scripts.synth.entities import StaticWorld
from scripts.synth.world import GEOS
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
        **_consent_columns(w, users),
        "session_id": [f"{user_ids[u]}-s{s + 1:03d}" for u, s in
                       zip(users.tolist(), col["session"][order].tolist())],
    })


@dataclass(frozen=True, eq=False)
class _Shown:
    """The logged impressions in id order, each joined to its request and its creative.

    Row i of every array describes impression i; ``oracle_state`` holds the
    keyword arguments the oracle's two probabilities share.
    """
    req: np.ndarray               # the impression's row in the requests frame
    pos: np.ndarray
    cr: np.ndarray                # creative index
    ts: np.ndarray
    request_id: np.ndarray
    user_id: np.ndarray           # None for an anonymous visitor
    user_idx: np.ndarray          # user index, -1 for an anonymous visitor
    device: np.ndarray            # index into DEVICES
    hour: np.ndarray
    page: np.ndarray              # page category id or None
    page_match: np.ndarray        # 1.0 when the page shows the creative's category
    quality: np.ndarray
    ad_price: np.ndarray
    clickiness: np.ndarray
    oracle_state: dict


@dataclass(frozen=True, eq=False)
class _Outcomes:
    """What the oracle makes of each impression: its probabilities and the drawn outcomes."""
    p_click: np.ndarray
    p_conv: np.ndarray
    clicked: np.ndarray
    converted: np.ndarray         # only ever True where clicked
    click_ts: np.ndarray          # drawn for every impression; meaningful where clicked
    conv_ts: np.ndarray           # likewise, where converted
    conv_value: np.ndarray


@dataclass(frozen=True, eq=False)
class _Ids:
    """Impression ids, and click and conversion ids numbered in the order they happen."""
    impression_ids: list[str]
    click_rows: np.ndarray        # impression rows that were clicked, by click time
    click_id: np.ndarray          # per impression, None where not clicked
    conv_rows: np.ndarray         # impression rows that converted, by conversion time
    conv_id: np.ndarray           # per impression, None where not converted


def _requests_frame(w: StaticWorld, raw: RawTraffic) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The requests in time order (ties: user order, then generation order), numbered in that order.

    Also returns ``rank`` (raw request index -> row of the frame), which places the
    raw impressions, and each row's user index (-1 for anonymous), which the oracle needs.
    """
    cat_ids = [c.category_id for c in w.categories]
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
        **_consent_columns(w, rq_user[order]),
    })
    return requests, rank, rq_user[order]


def _refuses(seed: int, purpose: str, user_id: str, share: float) -> bool:
    """Whether a user says no to ``purpose``: a keyed hash, not the world's generator, so that
    adding consent left every other draw (and so every world of a seed) as it was."""
    h = hashlib.blake2b(f"{seed}:{purpose}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2 ** 64 < share


def _consent_columns(w: StaticWorld, users: np.ndarray) -> dict[str, list]:
    """Each row's explicit consent flags (``consent_<purpose>``, the writer nests them): a user's
    are the same on all their events and requests; an anonymous request (user -1) states none."""
    p = w.params
    shares = {"personalisation": p.no_personalisation_share, "measurement": p.no_measurement_share}
    per_user = {purpose: [not _refuses(p.seed, purpose, u.user_id, share) for u in w.users]
                for purpose, share in shares.items()}
    return {f"consent_{purpose}": [None if i < 0 else yes[i] for i in users.tolist()]
            for purpose, yes in per_user.items()}


def _impression_features(w: StaticWorld, raw: RawTraffic, requests: pd.DataFrame,
                         rank: np.ndarray, request_user: np.ndarray) -> _Shown:
    """Sort the raw impressions by request row, then position, and join what the oracle scores.

    An impression is logged 25 ms after its request.
    """
    imp = raw.impressions
    imp_req = np.array([rank[x[0]] for x in imp], dtype=np.int64)
    imp_pos = np.array([x[1] for x in imp], dtype=np.int64)
    iorder = np.lexsort((imp_pos, imp_req))
    imp = [imp[i] for i in iorder]
    req = imp_req[iorder]
    pos = imp_pos[iorder]
    cr = np.array([x[2] for x in imp], dtype=np.int64)
    creatives = w.creatives
    user_idx = request_user[req] if len(req) else np.zeros(0, dtype=np.int64)
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
    return _Shown(req=req, pos=pos, cr=cr, ts=requests["ts"].to_numpy()[req] + 25,
                  request_id=requests["request_id"].to_numpy()[req],
                  user_id=requests["user_id"].to_numpy()[req], user_idx=user_idx,
                  device=device, hour=hour, page=page, page_match=page_match, quality=quality,
                  ad_price=ad_price, clickiness=clickiness, oracle_state=state)


def _draw_outcomes(s: _Shown, rng: np.random.Generator, params: oracle.OracleParams) -> _Outcomes:
    """The oracle's probabilities for every impression, then the outcomes drawn from them.

    Five draws of one value per impression, always all of them and in this order
    (click, conversion, click delay, conversion delay, quantity): the order is what
    makes a seed give the same world, so a new draw goes after the last.
    """
    p_click = oracle.p_click_batch(**s.oracle_state, device_index=s.device, position=s.pos,
                                   hour=s.hour, page_match=s.page_match, quality=s.quality,
                                   clickiness=s.clickiness, params=params)
    p_conv = oracle.p_convert_batch(**s.oracle_state, quality=s.quality, params=params)
    n = len(s.cr)
    clicked = rng.random(n) < p_click
    converted = clicked & (rng.random(n) < p_conv)
    click_ts = s.ts + 1000 + np.round(rng.lognormal(np.log(3000.0), 0.7, n)).astype(np.int64)
    conv_ts = click_ts + 30_000 + np.round(rng.exponential(15 * 60_000.0, n)).astype(np.int64)
    quantity = 1 + (rng.random(n) < 0.2)
    conv_value = np.round(s.ad_price * quantity, 2)
    return _Outcomes(p_click=p_click, p_conv=p_conv, clicked=clicked, converted=converted,
                     click_ts=click_ts, conv_ts=conv_ts, conv_value=conv_value)


def _number_outcomes(o: _Outcomes) -> _Ids:
    """Impression ids in row order; click and conversion ids in time order (ties: row order)."""
    n = len(o.clicked)
    click_rows = np.flatnonzero(o.clicked)
    click_rows = click_rows[np.argsort(o.click_ts[click_rows], kind="stable")]
    click_id = np.full(n, None, dtype=object)
    click_id[click_rows] = _ids("ck", len(click_rows), 6)
    conv_rows = np.flatnonzero(o.converted)
    conv_rows = conv_rows[np.argsort(o.conv_ts[conv_rows], kind="stable")]
    conv_id = np.full(n, None, dtype=object)
    conv_id[conv_rows] = _ids("cv", len(conv_rows), 6)
    return _Ids(impression_ids=_ids("im", n, 7), click_rows=click_rows, click_id=click_id,
                conv_rows=conv_rows, conv_id=conv_id)


def _impressions_frame(w: StaticWorld, requests: pd.DataFrame, s: _Shown, o: _Outcomes,
                       ids: _Ids) -> pd.DataFrame:
    """One row per impression: what was shown where, its outcomes, and the oracle's ground truth."""
    creatives = w.creatives
    camps = {c.campaign_id: c for c in w.campaigns}
    cr, req = s.cr, s.req
    n_eligible = requests["n_eligible"].to_numpy()[req]
    shown = np.minimum(requests["num_ads"].to_numpy()[req], n_eligible)
    return pd.DataFrame({
        "request_id": s.request_id,
        "impression_id": ids.impression_ids,
        "user_id": s.user_id,
        "ad_id": [creatives[c].ad_id for c in cr.tolist()],
        "campaign_id": [creatives[c].campaign_id for c in cr.tolist()],
        "creative_id": [creatives[c].creative_id for c in cr.tolist()],
        "advertiser_id": [creatives[c].advertiser_id for c in cr.tolist()],
        "category_id": [creatives[c].category_id for c in cr.tolist()],
        "brand_id": [creatives[c].brand_id for c in cr.tolist()],
        "ad_price": s.ad_price,
        "ts": s.ts,
        "position": s.pos,
        "slot": requests["slot"].to_numpy()[req],
        "device": requests["device"].to_numpy()[req],
        "geo": requests["geo"].to_numpy()[req],
        "hour": s.hour,
        "page_category": s.page,
        "price": [charge(camps[creatives[c].campaign_id].bid_type,
                         camps[creatives[c].campaign_id].bid) for c in cr.tolist()],
        "n_eligible": n_eligible,
        "propensity": shown / np.maximum(n_eligible, 1),
        "clicked": o.clicked,
        "click_id": ids.click_id,
        "click_ts": np.where(o.clicked, o.click_ts, -1),
        "converted": o.converted,
        "conversion_id": ids.conv_id,
        "conversion_ts": np.where(o.converted, o.conv_ts, -1),
        "conversion_value": np.where(o.converted, o.conv_value, 0.0),
        "p_click_oracle": o.p_click,
        "p_convert_oracle": o.p_conv,
        "oracle_cat_score": s.oracle_state["cat_score"],
        "oracle_brand_score": s.oracle_state["brand_score"],
        "oracle_avg_viewed_price": s.oracle_state["avg_viewed_price"],
        "latent_quality": s.quality,
        "latent_clickiness": s.clickiness,
    })


def _ad_clicks_frame(impressions: pd.DataFrame, s: _Shown, o: _Outcomes, ids: _Ids) -> pd.DataFrame:
    """The clicked impressions as click records, in click order."""
    rows = ids.click_rows
    return pd.DataFrame({
        "click_id": ids.click_id[rows].tolist(),
        "impression_id": [ids.impression_ids[i] for i in rows.tolist()],
        "request_id": s.request_id[rows].tolist(),
        "user_id": s.user_id[rows].tolist(),
        "ad_id": impressions["ad_id"].to_numpy()[rows].tolist(),
        "campaign_id": impressions["campaign_id"].to_numpy()[rows].tolist(),
        "ts": o.click_ts[rows],
    })


def _conversions_frame(impressions: pd.DataFrame, s: _Shown, o: _Outcomes, ids: _Ids) -> pd.DataFrame:
    """The converted impressions as conversion records, in conversion order."""
    rows = ids.conv_rows
    return pd.DataFrame({
        "conversion_id": ids.conv_id[rows].tolist(),
        "impression_id": [ids.impression_ids[i] for i in rows.tolist()],
        "click_id": ids.click_id[rows].tolist(),
        "user_id": s.user_id[rows].tolist(),
        "campaign_id": impressions["campaign_id"].to_numpy()[rows].tolist(),
        "ts": o.conv_ts[rows],
        "value": o.conv_value[rows],
    })


def assemble(w: StaticWorld, raw: RawTraffic, rng: np.random.Generator,
             params: oracle.OracleParams) -> Streams:
    """Sort the raw traffic into time order, give it ids, draw outcomes from the oracle."""
    events = _events_frame(w, raw)
    requests, rank, request_user = _requests_frame(w, raw)
    shown = _impression_features(w, raw, requests, rank, request_user)
    outcomes = _draw_outcomes(shown, rng, params)
    ids = _number_outcomes(outcomes)
    impressions = _impressions_frame(w, requests, shown, outcomes, ids)
    return Streams(events=events, requests=requests, impressions=impressions,
                   ad_clicks=_ad_clicks_frame(impressions, shown, outcomes, ids),
                   conversions=_conversions_frame(impressions, shown, outcomes, ids))
