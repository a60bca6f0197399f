"""The ad server's side, simulated: which ads of an answer were shown, and what users did.

Given a written world (``adstream generate``) and (``AdRequest``, ``RankedAds``) pairs,
:class:`Site` decides for each answer:

- **Shown**: the first ``num_ads`` ranked ads, in order, at positions 1..n (an ad whose
  creative or campaign the world does not know is skipped and counted, never guessed).
- **Clicks** from the world's hidden click model (:func:`scripts.synth.oracle.p_click`):
  the user's latent clickiness, the creative's latent quality, price and category, the
  request's device, page category and UTC hour (from the request's ``ts``), the position,
  and the user's state: the decayed category and brand scores and mean viewed price of
  the world's own clickstream strictly before the request's ``ts`` (``UserState``). A
  request at a time after the world's traffic sees the whole history decayed to that
  time, so close to a neutral state; an anonymous or unknown user has no history.
- **Conversions** after a click from the conversion model, worth the promoted item's
  price × 1 or 2 (as the generator draws them). No view-through conversions.
- **Times**: the impression at the answer's ``ts`` (when it was shown), the click a
  log-normal delay later (``site.click_delay_*``), the conversion one more after the
  click (``site.conversion_delay_*``), both divided by ``site.time_compression``.
- **Faults**, by share (config ``site``): a duplicate (the same event id re-sent up to
  ``duplicate_gap_s`` later), a late event (sent ``late_by_s`` after its ``ts``), an
  orphan (a click whose impression is never sent). Each outgoing event says when it is
  due (``send_at_ms``, on the clock of the answers' ``ts``) and why (``tag``).

Deterministic by seed: each answer's draws come from a generator seeded by
(``site.seed``, its request id), a fixed number per shown ad, so the outcome of one
request does not depend on the order answers arrive in or on what the others drew. Event
ids are digests of (request id, position, creative), so they are unique while request ids
are. ``Impression.price`` is what the impression itself is charged: a CPM price / 1000,
0 for the bid types charged on a click or a conversion (their prices are the served log's).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets import world_layout as layout
from scripts.synth import oracle
from udfs.config import Site as SiteParams
from udfs.errors import AdstreamError
from udfs.messages import AdClick, AdRequest, Conversion, Impression, RankedAd, RankedAds
from udfs.messages.base import Message

TOPIC_KEYS = ("impressions", "ad_clicks", "conversions")   # cfg.kafka.topics keys, in event order
_PER_AD = 4 + 3 * len(TOPIC_KEYS)   # uniform draws per shown ad, always all (see Site._one)


@dataclass(frozen=True)
class Ad:
    """What the oracle needs of a creative (``oracle._Ad``) and what the events carry."""
    category_id: str
    brand_id: str
    price: float
    quality: float
    bid_type: str


@dataclass(frozen=True)
class Outgoing:
    """One record to publish: ``topic`` is a ``cfg.kafka.topics`` key, the record's key the
    request id (a conversion carries none of its own)."""
    topic: str
    message: Message
    send_at_ms: int
    request_id: str
    tag: str = "event"   # event | late | duplicate

    @property
    def key(self) -> bytes:
        return self.request_id.encode()


@dataclass
class Tally:
    """What the site did, for the summary line and the tests."""
    answers: int = 0
    shown: int = 0
    impressions: int = 0        # sent (shown minus orphans), duplicates not counted
    clicks: int = 0
    conversions: int = 0
    duplicates: int = 0
    late: int = 0
    orphans: int = 0
    unknown_ads: int = 0
    expected_clicks: float = 0.0   # Σ oracle p_click over the shown ads

    def line(self) -> str:
        return (f"answers {self.answers}  impressions {self.impressions}  clicks {self.clicks}  "
                f"conversions {self.conversions}  duplicates {self.duplicates}  late {self.late}  "
                f"orphans {self.orphans}  unknown ads {self.unknown_ads}")


@dataclass(frozen=True)
class _History:
    """One user's clickstream, in time order, with category and brand as codes."""
    ts: np.ndarray
    cat: np.ndarray
    brand: np.ndarray
    view_price: np.ndarray   # price where the event is a priced view, NaN elsewhere


@dataclass(frozen=True, eq=False)
class SiteWorld:
    """The parts of a written world the site reads: creatives, campaigns' bid types, users'
    latent clickiness and their clickstream."""
    ads: dict[str, Ad]
    clickiness: dict[str, float]
    history: dict[str, _History]
    cat_code: dict[str, int] = field(default_factory=dict)
    brand_code: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, world_dir: str | Path) -> "SiteWorld":
        d = Path(world_dir)
        if not layout.manifest(d).exists():
            raise AdstreamError(f"{d} holds no generated world (no {layout.MANIFEST}): run 'adstream generate'")
        cr = pd.read_parquet(layout.table(d, "creatives"),
                             columns=["creative_id", "campaign_id", "category_id", "brand_id", "price",
                                      "latent_quality"])
        bid = dict(pd.read_parquet(layout.table(d, "campaigns"), columns=["campaign_id", "bid_type"])
                   .itertuples(index=False, name=None))
        ads = {r.creative_id: Ad(r.category_id, r.brand_id, float(r.price), float(r.latent_quality),
                                 bid[r.campaign_id])
               for r in cr.itertuples(index=False) if r.campaign_id in bid}
        users = pd.read_parquet(layout.table(d, "users"), columns=["user_id", "latent_clickiness"])
        events = pd.read_parquet(layout.table(d, "events"),
                                 columns=["user_id", "ts", "type", "category_id", "brand_id", "price"])
        return cls._of(ads, dict(users.itertuples(index=False, name=None)), events)

    @classmethod
    def _of(cls, ads: dict[str, Ad], clickiness: dict[str, float], events: pd.DataFrame) -> "SiteWorld":
        cat_code = {c: i for i, c in enumerate(pd.unique(events["category_id"].fillna("")))}
        brand_code = {b: i for i, b in enumerate(pd.unique(events["brand_id"].fillna("")))}
        ev = events.sort_values(["user_id", "ts"], kind="stable")
        cats = ev["category_id"].fillna("").map(cat_code).to_numpy(np.int64)
        brands = ev["brand_id"].fillna("").map(brand_code).to_numpy(np.int64)
        price = np.where((ev["type"] == "view").to_numpy() & ev["price"].notna().to_numpy(),
                         ev["price"].to_numpy(float, na_value=np.nan), np.nan)
        ts = ev["ts"].to_numpy(np.int64)
        history = {}
        users = ev["user_id"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            history[users[a]] = _History(ts[a:b], cats[a:b], brands[a:b], price[a:b])
        return cls(ads, clickiness, history, cat_code, brand_code)

    def state(self, user_id: str | None, ts: int, ad: Ad,
              half_life_s: float = oracle.DEFAULT.half_life_s) -> oracle.UserState:
        """The user's state at ``ts`` as the oracle reads it for ``ad``: only ``ad``'s category
        and brand scores are filled in (the only ones it looks up)."""
        h = self.history.get(user_id) if user_id else None
        if h is None:
            return oracle.UserState()
        m = int(np.searchsorted(h.ts, ts, side="left"))   # events strictly before ts
        w = np.exp2((h.ts[:m] - ts) / (half_life_s * 1000.0))
        cat = self.cat_code.get(ad.category_id, -1)
        brand = self.brand_code.get(ad.brand_id, -1)
        prices = h.view_price[:m]
        seen = prices[np.isfinite(prices)]
        return oracle.UserState({ad.category_id: float(w[h.cat[:m] == cat].sum())},
                                {ad.brand_id: float(w[h.brand[:m] == brand].sum())},
                                float(seen.mean()) if len(seen) else None)


@dataclass(frozen=True)
class _User:
    clickiness: float


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()


def _answer_seed(seed: int, request_id: str) -> list[int]:
    return [seed, int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "big")]


class Site:
    """Turns answers into impressions, clicks and conversions (see the module docstring)."""

    def __init__(self, world: SiteWorld, params: SiteParams,
                 oracle_params: oracle.OracleParams = oracle.DEFAULT):
        self.world, self.p, self.op = world, params, oracle_params
        self.tally = Tally()

    def serve(self, request: AdRequest, answer: RankedAds) -> list[Outgoing]:
        """The events of one answer to ``request``, in no particular order (send by ``send_at_ms``)."""
        if answer.request_id != request.request_id:
            raise ValueError(f"site: answer {answer.request_id!r} is not for request {request.request_id!r}")
        self.tally.answers += 1
        rng = np.random.default_rng(_answer_seed(self.p.seed, request.request_id))
        out: list[Outgoing] = []
        for pos, ranked in enumerate(answer.ads[:request.num_ads], start=1):
            u = rng.random(_PER_AD)     # drawn whether or not the ad is known: later ads keep theirs
            z = rng.standard_normal(2)
            ad = self.world.ads.get(ranked.creative_id)
            if ad is None:
                self.tally.unknown_ads += 1
                continue
            out += self._one(request, answer.ts, pos, ranked, ad, u, z)
        return out

    def _one(self, request: AdRequest, shown_ts: int, pos: int, ranked: RankedAd, ad: Ad,
             u: np.ndarray, z: np.ndarray) -> list[Outgoing]:
        """One shown ad. ``u``: click, conversion, orphan, quantity, then a (late,
        duplicate, copy gap) triple for each of impression, click, conversion; ``z``: the
        click and conversion delays' normal draws."""
        p, t = self.p, self.tally
        ctx = oracle.Context(device=request.context.device, position=pos,
                             hour=int(request.ts // 3_600_000 % 24), page_category=request.context.page_category)
        state = self.world.state(request.user_id, request.ts, ad, self.op.half_life_s)
        user = _User(self.world.clickiness.get(request.user_id, 0.0)) if request.user_id else None
        p_click = oracle.p_click(user, ad, ctx, state, self.op)
        t.shown += 1
        t.expected_clicks += p_click
        rid, uid = request.request_id, request.user_id
        tag = _digest(rid, pos, ranked.creative_id)
        imp = Impression(impression_id=f"im-{tag}", request_id=rid, user_id=uid, ad_id=ranked.ad_id,
                         campaign_id=ranked.campaign_id, creative_id=ranked.creative_id, ts=shown_ts,
                         position=pos, price=ranked.price / 1000.0 if ad.bid_type == "CPM" else 0.0)
        clicked = u[0] < p_click
        events = [] if clicked and u[2] < p.orphan_share else [("impressions", imp)]
        if len(events) == 0:
            t.orphans += 1
        else:
            t.impressions += 1
        if clicked:
            click = AdClick(click_id=f"ck-{tag}", impression_id=imp.impression_id, request_id=rid, user_id=uid,
                            ad_id=ranked.ad_id, campaign_id=ranked.campaign_id,
                            ts=shown_ts + self._delay(z[0], p.click_delay_median_s, p.click_delay_sigma,
                                                      p.click_delay_max_s))
            events.append(("ad_clicks", click))
            t.clicks += 1
            if u[1] < oracle.p_convert_after_click(user, ad, ctx, state, self.op):
                conv = Conversion(conversion_id=f"cv-{tag}", impression_id=imp.impression_id,
                                  click_id=click.click_id, user_id=uid, campaign_id=ranked.campaign_id,
                                  ts=click.ts + self._delay(z[1], p.conversion_delay_median_s,
                                                            p.conversion_delay_sigma, p.conversion_delay_max_s),
                                  value=round(ad.price * (2 if u[3] < 0.2 else 1), 2))
                events.append(("conversions", conv))
                t.conversions += 1
        return [o for topic, msg in events for o in self._send(topic, msg, rid, u[4 + 3 * TOPIC_KEYS.index(topic):])]

    def _delay(self, z: float, median_s: float, sigma: float, cap_s: float) -> int:
        """The log-normal delay of normal draw ``z``, capped, compressed, in ms (at least 1)."""
        seconds = min(median_s * float(np.exp(sigma * z)), cap_s)
        return max(1, int(round(seconds * 1000.0 / self.p.time_compression)))

    def _send(self, topic: str, msg: Message, rid: str, u: np.ndarray) -> list[Outgoing]:
        """The record(s) of one event: once on time or late, maybe a copy after."""
        p = self.p
        late = bool(u[0] < p.late_share)
        at = msg.ts + (int(p.late_by_s * 1000) if late else 0)
        out = [Outgoing(topic, msg, at, rid, "late" if late else "event")]
        self.tally.late += int(late)
        if u[1] < p.duplicate_share:
            out.append(Outgoing(topic, msg, at + int(u[2] * p.duplicate_gap_s * 1000), rid, "duplicate"))
            self.tally.duplicates += 1
        return out



class Join:
    """Pairs each request with its answer by request id, whichever arrives first.

    The two come from two topics, so either may be read first; the early one waits at most
    ``wait_ms`` (then it is dropped and counted: ``unanswered`` requests, ``unmatched``
    answers), and at most ``max_waiting`` wait at once (the oldest goes first)."""

    def __init__(self, wait_ms: int, max_waiting: int):
        self.wait_ms, self.max_waiting = wait_ms, max_waiting
        self.requests: OrderedDict[str, tuple[int, AdRequest]] = OrderedDict()
        self.answers: OrderedDict[str, tuple[int, RankedAds]] = OrderedDict()
        self.unanswered = self.unmatched = 0

    def request(self, req: AdRequest, now_ms: int) -> tuple[AdRequest, RankedAds] | None:
        got = self.answers.pop(req.request_id, None)
        if got is not None:
            return req, got[1]
        self.requests[req.request_id] = (now_ms, req)
        self._bound()
        return None

    def answer(self, ans: RankedAds, now_ms: int) -> tuple[AdRequest, RankedAds] | None:
        got = self.requests.pop(ans.request_id, None)
        if got is not None:
            return got[1], ans
        self.answers[ans.request_id] = (now_ms, ans)
        self._bound()
        return None

    def expire(self, now_ms: int) -> None:
        for held, attr in ((self.requests, "unanswered"), (self.answers, "unmatched")):
            while held and next(iter(held.values()))[0] < now_ms - self.wait_ms:
                held.popitem(last=False)
                setattr(self, attr, getattr(self, attr) + 1)

    @property
    def waiting(self) -> int:
        return len(self.requests) + len(self.answers)

    def _bound(self) -> None:
        while self.waiting > self.max_waiting:
            older = self.requests if (self.requests and (not self.answers or next(iter(
                self.requests.values()))[0] <= next(iter(self.answers.values()))[0])) else self.answers
            older.popitem(last=False)
            if older is self.requests:
                self.unanswered += 1
            else:
                self.unmatched += 1
