"""Animate a :class:`~scripts.synth.entities.StaticWorld` into time-ordered traffic.

Per user (in user order, from one seeded generator, hence deterministic):

1. **Sessions.** The user's share of ``events`` (multinomial on latent activity)
   is cut into sessions of geometric length (mean 8). A session starts at a
   time drawn from the diurnal profile :data:`HOURLY` (UTC; quiet at night,
   busiest in the evening) on a uniform day, runs on one device, and spaces its
   events by 2 s + an exponential gap (mean 40 s).
2. **Browsing.** A session follows one category drawn from the user's latent
   interests (5 % exploration by global popularity) and switches category with
   probability 0.15 per step. A step is a search (5 %: a query made of the
   category's words) or a view of an item drawn by popularity × price fit to
   the user's price preference. A view may lead to a cart (5.5 %) or fav (3 %)
   of that item; a cart to a purchase (30 %); a fav to a cart (15 %) — roughly
   Taobao's view:cart:fav:buy mix.
3. **Ad requests.** The user's share of ``requests`` is placed inside their
   sessions (right after a random event, or at a session's start); the slot
   follows the page (search → ``search_top``, item → ``product_side``, start →
   ``home_top``/``feed``). 2 % of requests are anonymous (no user, no history).
4. **Logging policy** (:mod:`scripts.synth.policy`): ``num_ads`` of the
   eligible approved creatives, uniformly at random, at positions 1..n; the
   user's state at request time (decayed category/brand scores, average viewed
   price) is recorded for the oracle.
5. **Outcomes** (:mod:`scripts.synth.tables`): sorting, ids, and clicks and
   conversions drawn from the oracle (:mod:`scripts.synth.oracle`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from scripts.synth import oracle
from scripts.synth.policy import SLOTS, TOP_K_INTERESTS, Eligibility
from scripts.synth.tables import HOUR_MS, RawTraffic, Streams, assemble, hour_of
from scripts.synth.entities import StaticWorld
from scripts.synth.world import AGE_BANDS, DEVICE_P, GENDERS, GEO_P, GEOS
from udfs.messages.clickstream import DEVICES, EVENT_TYPES

DAY_MS = 86_400_000
#: Relative traffic by UTC hour of day.
HOURLY = np.array([0.30, 0.20, 0.14, 0.10, 0.10, 0.14, 0.28, 0.50, 0.70, 0.80, 0.85, 0.90,
                   1.00, 0.95, 0.90, 0.90, 0.95, 1.00, 1.10, 1.30, 1.40, 1.35, 1.00, 0.60])
HOURLY_P = HOURLY / HOURLY.sum()

SESSION_MEAN_EVENTS = 8
GAP_MIN_MS, GAP_MEAN_MS = 2_000, 40_000
P_EXPLORE, P_SWITCH, P_SEARCH = 0.05, 0.15, 0.05
P_VIEW_CART, P_VIEW_FAV, P_CART_BUY, P_FAV_CART = 0.055, 0.03, 0.30, 0.15
PRICE_FIT_SIGMA = 0.5
ANONYMOUS_SHARE = 0.02
SESSION_DEVICE_LOYALTY = 0.85
_QUERY_MODIFIERS = ("cheap", "best", "new", "sale", "premium", "gift")

VIEW, SEARCH, CART, FAV, PURCHASE = (EVENT_TYPES.index(t) for t in
                                     ("view", "search", "cart", "fav", "purchase"))


class _Simulator:
    """Walks the users one by one, appending to :class:`RawTraffic` (``self.raw``)."""

    def __init__(self, w: StaticWorld, rng: np.random.Generator, params: oracle.OracleParams):
        self.w, self.rng, self.op = w, rng, params
        p = w.params
        self.t0, self.days = p.start_ts_ms, p.days
        self.k = len(w.categories)
        self.items_by_cat = [np.flatnonzero(w.item_category == c) for c in range(self.k)]
        self.item_log_price = np.log(w.item_price)
        self.cat_cdf = np.cumsum(w.category_weight)
        self.cat_cdf[-1] = 1.0
        self.cat_words = [c.name for c in w.categories]
        self.brand_words = [[w.brands[b].name.lower() for b in np.flatnonzero(w.brand_category == c)]
                            for c in range(self.k)]
        self.elig = Eligibility(w)
        brand_index, cat_index = w.brand_index, w.category_index
        self.cr_cat = np.array([cat_index[c.category_id] for c in w.creatives])
        self.cr_brand = np.array([brand_index[c.brand_id] for c in w.creatives])
        self.user_geo = np.array([GEOS.index(u.geo) for u in w.users])
        self.user_device = np.array([DEVICES.index(u.device) for u in w.users])
        self.user_age = np.array([AGE_BANDS.index(u.age_band) for u in w.users])
        self.user_gender = np.array([GENDERS.index(u.gender) for u in w.users])
        self.half_life_ms = params.half_life_s * 1000.0
        self.raw = RawTraffic()

    # ------------------------------------------------------------- sampling
    def _times(self, n: int) -> np.ndarray:
        """``n`` instants in the simulated window, following the diurnal profile."""
        day = self.rng.integers(0, self.days, n)
        hour = self.rng.choice(24, size=n, p=HOURLY_P)
        ms = (self.rng.random(n) * HOUR_MS).astype(np.int64)
        return self.t0 + day * DAY_MS + hour * HOUR_MS + ms

    def _session_lengths(self, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        draw = self.rng.geometric(1.0 / SESSION_MEAN_EVENTS, size=n // SESSION_MEAN_EVENTS * 2 + 4)
        while draw.sum() < n:
            draw = np.concatenate([draw, self.rng.geometric(1.0 / SESSION_MEAN_EVENTS, size=8)])
        cut = int(np.searchsorted(np.cumsum(draw), n))
        lengths = draw[: cut + 1].copy()
        lengths[-1] -= lengths.sum() - n
        return lengths

    def _draw_category(self, u: int, explore: float, r: float) -> int:
        cdf = self.cat_cdf if explore < P_EXPLORE else self.w.interest_cdf[u]
        return min(int(np.searchsorted(cdf, r, side="right")), self.k - 1)

    def _item_cdf(self, cache: dict, u: int, c: int) -> tuple[np.ndarray, np.ndarray]:
        if c not in cache:
            rows = self.items_by_cat[c]
            if not len(rows):
                rows = np.arange(len(self.w.items))
            want = self.w.category_log_price[c] + self.w.users[u].price_pref
            fit = np.exp(-0.5 * ((self.item_log_price[rows] - want) / PRICE_FIT_SIGMA) ** 2)
            weight = self.w.item_popularity[rows] * (fit + 1e-6)
            cdf = np.cumsum(weight)
            cache[c] = (rows, cdf / cdf[-1])
        return cache[c]

    def _query(self, c: int) -> str:
        words = self.cat_words[c]
        r = self.rng.random()
        if r < 0.5 or (r >= 0.75 and not self.brand_words[c]):
            return words
        if r < 0.75:
            return f"{_QUERY_MODIFIERS[self.rng.integers(len(_QUERY_MODIFIERS))]} {words}"
        brands = self.brand_words[c]
        return f"{brands[self.rng.integers(len(brands))]} {words}"

    # ------------------------------------------------------------- one user
    def user(self, u: int, n_events: int, n_requests: int) -> None:
        rng, w = self.rng, self.w
        lengths = self._session_lengths(n_events)
        n_sessions = len(lengths)
        starts = np.sort(self._times(n_sessions))
        loyal = rng.random(n_sessions) < SESSION_DEVICE_LOYALTY
        other = rng.choice(len(DEVICES), size=n_sessions, p=np.asarray(DEVICE_P))
        sess_device = np.where(loyal, self.user_device[u], other)

        ts = np.empty(n_events, dtype=np.int64)
        typ = np.empty(n_events, dtype=np.int64)
        item = np.full(n_events, -1, dtype=np.int64)
        cat = np.empty(n_events, dtype=np.int64)
        query: list[str | None] = [None] * n_events
        sess = np.repeat(np.arange(n_sessions), lengths)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        rand = rng.random((n_events, 5))
        cache: dict = {}
        k = 0
        for s in range(n_sessions):
            length = int(lengths[s])
            gaps = GAP_MIN_MS + rng.exponential(GAP_MEAN_MS, length - 1)
            ts[k: k + length] = starts[s] + np.concatenate([[0.0], np.cumsum(gaps)]).astype(np.int64)
            c = self._draw_category(u, rand[k, 3], rand[k, 2])
            pending, current = 0, -1
            for _ in range(length):
                a = rand[k, 0]
                if pending:
                    t, it = pending, current
                    pending = (PURCHASE if t == CART and a < P_CART_BUY else
                               CART if t == FAV and a < P_FAV_CART else 0)
                else:
                    if rand[k, 1] < P_SWITCH:
                        c = self._draw_category(u, rand[k, 3], rand[k, 2])
                    if a < P_SEARCH:
                        t, it = SEARCH, -1
                        query[k] = self._query(c)
                    else:
                        rows, cdf = self._item_cdf(cache, u, c)
                        t = VIEW
                        it = current = int(rows[min(int(np.searchsorted(cdf, rand[k, 4])), len(rows) - 1)])
                        b = (a - P_SEARCH) / (1.0 - P_SEARCH)
                        pending = CART if b < P_VIEW_CART else FAV if b < P_VIEW_CART + P_VIEW_FAV else 0
                typ[k], item[k] = t, it
                cat[k] = c if it < 0 else w.item_category[it]
                k += 1

        has_item = item >= 0
        brand = np.where(has_item, w.item_brand[np.maximum(item, 0)], -1)
        price = np.where(has_item, w.item_price[np.maximum(item, 0)], np.nan)
        device = sess_device[sess] if n_events else np.zeros(0, dtype=np.int64)
        self.raw.event_parts.append(dict(user=np.full(n_events, u), ts=ts, type=typ, item=item, cat=cat,
                                     brand=brand, price=price, query=query, device=device,
                                     session=sess, seq=np.arange(n_events)))
        if n_requests:
            self._user_requests(u, n_requests, lengths, first, ts, typ, cat, sess_device,
                                starts, brand, price)

    def _user_requests(self, u, n, lengths, first, ts, typ, cat, sess_device, starts,
                       brand, price) -> None:
        rng = self.rng
        if len(lengths):
            s = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
            j = (rng.random(n) * (lengths[s] + 1)).astype(np.int64) - 1   # -1 = session start
            at = first[s] + np.maximum(j, 0)
            before = starts[s] - rng.integers(500, 3000, n)
            after = ts[at] + rng.integers(300, 4000, n)
            req_ts = np.where(j < 0, before, after)
            page = np.where(j < 0, -1, cat[at])
            page_type = np.where(j < 0, -1, typ[at])
            device = sess_device[s]
        else:
            req_ts = self._times(n)
            page = page_type = np.full(n, -1)
            device = np.full(n, self.user_device[u])
        r = rng.random(n)
        slots = np.where(page_type < 0, np.where(r < 0.5, "home_top", "feed"),
                         np.where(page_type == SEARCH, "search_top",
                                  np.where(r < 0.7, "product_side", "feed")))
        order = np.argsort(ts, kind="stable")
        ev_ts, ev_cat, ev_brand = ts[order], cat[order], brand[order]
        is_view = (typ[order] == VIEW) & np.isfinite(price[order])
        cum_price = np.concatenate([[0.0], np.cumsum(np.where(is_view, price[order], 0.0))])
        cum_views = np.concatenate([[0], np.cumsum(is_view)])
        for i in np.argsort(req_ts, kind="stable"):
            t = int(req_ts[i])
            m = int(np.searchsorted(ev_ts, t, side="left"))
            weights = np.exp2((ev_ts[:m] - t) / self.half_life_ms)
            scores = np.bincount(ev_cat[:m], weights, minlength=self.k)
            avg = cum_price[m] / cum_views[m] if cum_views[m] else np.nan
            self._serve(u, t, str(slots[i]), int(device[i]), int(self.user_geo[u]),
                        int(self.user_age[u]), int(self.user_gender[u]), int(page[i]), scores,
                        weights, ev_brand[:m], avg)

    def anonymous(self, n: int) -> None:
        rng = self.rng
        req_ts = self._times(n)
        device = rng.choice(len(DEVICES), size=n, p=np.asarray(DEVICE_P))
        geo = rng.choice(len(GEOS), size=n, p=np.asarray(GEO_P))
        slots = np.where(rng.random(n) < 0.5, "home_top", "feed")
        zeros, nothing = np.zeros(self.k), np.zeros(0)
        for i in np.argsort(req_ts, kind="stable"):
            self._serve(-1, int(req_ts[i]), str(slots[i]), int(device[i]), int(geo[i]),
                        len(AGE_BANDS), len(GENDERS), -1, zeros, nothing,
                        nothing.astype(np.int64), np.nan)

    def _serve(self, u: int, t: int, slot: str, device: int, geo: int, age: int, gender: int,
               page: int, scores: np.ndarray, weights: np.ndarray, brands_before: np.ndarray,
               avg_price: float) -> None:
        """Log one request and the logging policy's uniformly random pick of eligible ads.

        ``scores`` are the decayed category scores at ``t``; ``weights`` the decay
        weights of the user's earlier events and ``brands_before`` their brands.
        """
        positive = np.flatnonzero(scores > 0)
        top = positive[np.argsort(-scores[positive], kind="stable")][:TOP_K_INTERESTS]
        eligible = np.flatnonzero(self.elig.mask(geo, device, age, gender, int(hour_of(t)), top))
        row = len(self.raw.requests)
        self.raw.requests.append((u, t, slot, device, geo, page, len(eligible)))
        shown = min(SLOTS[slot], len(eligible))
        if not shown:
            return
        picks = self.rng.choice(eligible, size=shown, replace=False)
        for pos, c in enumerate(picks, start=1):
            brand_score = float(weights[brands_before == self.cr_brand[c]].sum())
            self.raw.impressions.append((row, pos, int(c), float(scores[self.cr_cat[c]]),
                                     brand_score, avg_price))


def simulate(w: StaticWorld, rng: np.random.Generator,
             params: oracle.OracleParams = oracle.DEFAULT,
             progress: Callable[[int], None] | None = None) -> Streams:
    """Generate every stream of ``w`` (see the module docstring for the process).

    ``progress(n)`` is called as users are done (n users at a time).
    """
    p = w.params
    activity = np.array([u.activity for u in w.users])
    activity = activity / activity.sum()
    n_events = rng.multinomial(p.events, activity)
    n_anon = int(round(p.requests * ANONYMOUS_SHARE))
    n_requests = rng.multinomial(p.requests - n_anon, activity)
    sim = _Simulator(w, rng, params)
    step = max(1, len(w.users) // 100)
    for u in range(len(w.users)):
        sim.user(u, int(n_events[u]), int(n_requests[u]))
        if progress and (u + 1) % step == 0:
            progress(step)
    if progress and len(w.users) % step:
        progress(len(w.users) % step)
    sim.anonymous(n_anon)
    return assemble(w, sim.raw, rng, params)
