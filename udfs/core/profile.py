"""Per-user profile logic: a plain function given its state, with the clock passed in.

``ProfileState`` holds what one user's profile needs; ``apply`` folds one event
into it and ``snapshot`` reads the profile features (see ``udfs.core.features``) as of
the state's event time (its latest event). Both are order-insensitive within
the retained horizon: applying the same events in any order, or the same event
twice after dedupe has let it through, gives the same snapshot — which is what
makes replays and checkpoint restarts land on identical stored values.

- Sliding counts: events in ``(T - w, T]`` where ``T`` is the latest event time.
- Interest: exponentially decayed per category/brand, ``Σ 2^-((T - t_i) / half_life)``.
  Stored as ``Σ 2^((t_i - anchor) / half_life)`` so an event adds one weight and
  decays nothing; the anchor moves forward in whole half-lives (an exact ×2^-k),
  and ``snapshot`` scales to ``T`` once.
- Session: the run of events ending at ``T`` whose gaps are ≤ ``session_gap``.
- Search intent: a search's query, through the keyword map (``udfs.core.keywords``, given in
  ``ProfileParams.keywords``; None: searches add no intent), adds ``weight × w`` to each
  category the map gives it, decayed and stored exactly as the category interest is; each
  distinct token of the query (``udfs.core.keywords.tokenise``) adds ``weight`` to the search
  keywords, whose top k are what keyword targeting matches (with or without a map).
"""
from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol

from udfs.core.features import EVENT_TYPES, NEVER, count_feature
from udfs.core.keywords import tokenise

if TYPE_CHECKING:
    from udfs.core.keywords import KeywordMap   # noqa: F401  (annotations only)
from udfs.core.segments import SegmentModel, segment_of

_TYPE_INDEX = {t: i for i, t in enumerate(EVENT_TYPES)}


@dataclass(frozen=True)
class ProfileParams:
    windows_s: tuple[int, ...] = (600, 3600, 86400)
    half_life_s: int = 21600
    top_k: int = 10
    session_gap_s: int = 1800
    ttl_s: int = 172800
    keywords: "KeywordMap | None" = None   # search → category intent; None: no search intent
    # Segment centroids (``interests.segments.centroids_uri``): the snapshot's segment_id is its
    # nearest centroid; None = no segments (-1). Not compared: a model is data, not a parameter.
    segments: SegmentModel | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_config(cls, windows, keywords: "KeywordMap | None" = None) -> "ProfileParams":
        """From ``cfg.profile.windows`` (a ``udfs.config.Windows``) and the loaded keyword map
        (``udfs.io.keyword_map.load`` of ``profile.keyword_map``)."""
        return cls(tuple(windows.count_windows_s), windows.decay_half_life_s,
                   windows.top_k_categories, windows.session_gap_s, windows.state_ttl_s, keywords)

    @property
    def horizon_ms(self) -> int:
        # Session detection may look back as far as the longest window.
        return max(self.windows_s) * 1000


@dataclass
class ProfileState:
    ts: list[int] = field(default_factory=list)        # sorted event times within the horizon
    types: list[int] = field(default_factory=list)     # event type index, parallel to ts
    cat: dict[str, float] = field(default_factory=dict)    # interest, scaled to anchor_ts
    brand: dict[str, float] = field(default_factory=dict)
    anchor_ts: int = -1                                 # -1: no event yet
    last_event_ts: int = NEVER
    last_cart_ts: int = NEVER
    last_purchase_ts: int = NEVER
    total_spend: float = 0.0
    viewed_price_sum: float = 0.0
    viewed_price_n: int = 0
    purchased_price_sum: float = 0.0
    purchased_n: int = 0
    search: dict[str, float] = field(default_factory=dict)  # search intent, scaled to anchor_ts
    keywords: dict[str, float] = field(default_factory=dict)  # search keywords, scaled to anchor_ts


class EventLike(Protocol):
    """What ``apply`` reads of an event: ``EventView`` or the wire class itself."""
    ts: int
    type: str
    category_id: str | None
    brand_id: str | None
    price: float | None
    query: str | None


@dataclass(frozen=True)
class EventView:
    """The fields of a clickstream event the profile uses (decoupled from the wire class)."""
    ts: int
    type: str
    category_id: str | None = None
    brand_id: str | None = None
    price: float | None = None
    query: str | None = None


_REANCHOR_HALF_LIVES = 64   # weights stay below 2^64: far from overflow, exact to rescale


def _bump(scores: dict[str, float], key: str | None, weight: float) -> None:
    if key:
        scores[key] = scores.get(key, 0.0) + weight


def apply(state: ProfileState, ev: EventLike, p: ProfileParams) -> None:
    """Fold one (already deduplicated, on-time) event into ``state``."""
    t = int(ev.ts)
    hl_ms = p.half_life_s * 1000
    if state.anchor_ts < 0:
        state.anchor_ts = t
    elif t - state.anchor_ts > _REANCHOR_HALF_LIVES * hl_ms:
        k = (t - state.anchor_ts) // hl_ms
        scale = 2.0 ** -k
        state.cat = {c: v * scale for c, v in state.cat.items()}
        state.brand = {b: v * scale for b, v in state.brand.items()}
        if state.search:
            state.search = {c: v * scale for c, v in state.search.items()}
        if state.keywords:
            state.keywords = {t: v * scale for t, v in state.keywords.items()}
        state.anchor_ts += k * hl_ms
    weight = 2.0 ** ((t - state.anchor_ts) / hl_ms)
    _bump(state.cat, ev.category_id, weight)
    _bump(state.brand, ev.brand_id, weight)
    if ev.type == "search":
        _search_event(state, ev.query, weight, p)

    i = bisect.bisect_right(state.ts, t)
    state.ts.insert(i, t)
    state.types.insert(i, _TYPE_INDEX[ev.type])
    state.last_event_ts = max(state.last_event_ts, t)
    if ev.type == "cart":
        state.last_cart_ts = max(state.last_cart_ts, t)
    elif ev.type == "purchase":
        state.last_purchase_ts = max(state.last_purchase_ts, t)
        state.total_spend += float(ev.price or 0.0)
        if ev.price is not None:
            state.purchased_price_sum += float(ev.price)
            state.purchased_n += 1
    elif ev.type == "view" and ev.price is not None:
        state.viewed_price_sum += float(ev.price)
        state.viewed_price_n += 1
    _evict(state, p)


def _search_event(state: ProfileState, query: str | None, weight: float, p: ProfileParams) -> None:
    for tok in _distinct_tokens(query):
        state.keywords[tok] = state.keywords.get(tok, 0.0) + weight
    if p.keywords is not None:
        for c, w in p.keywords.intent(query):
            state.search[c] = state.search.get(c, 0.0) + weight * w


@functools.lru_cache(maxsize=65_536)
def _distinct_tokens(query: str | None) -> tuple[str, ...]:
    # queries repeat a lot: tokenise each distinct one once
    return tuple(dict.fromkeys(tokenise(query)))


def _evict(state: ProfileState, p: ProfileParams) -> None:
    cut = bisect.bisect_right(state.ts, state.last_event_ts - p.horizon_ms)
    if cut:
        del state.ts[:cut]
        del state.types[:cut]
    # Forget interest too small to matter, so idle categories cost nothing.
    if len(state.cat) > 4 * p.top_k:
        state.cat = dict(sorted(state.cat.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * p.top_k])
    if len(state.brand) > 4 * p.top_k:
        state.brand = dict(sorted(state.brand.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * p.top_k])
    if len(state.search) > 4 * p.top_k:
        state.search = dict(sorted(state.search.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * p.top_k])
    if len(state.keywords) > 4 * p.top_k:
        state.keywords = dict(sorted(state.keywords.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * p.top_k])


def expired(state: ProfileState, now_ms: int, p: ProfileParams) -> bool:
    """True when the user has been idle longer than the state TTL."""
    return state.last_event_ts != NEVER and now_ms - state.last_event_ts > p.ttl_s * 1000


@functools.lru_cache(maxsize=16)
def _count_names(windows_s: tuple[int, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(count_feature(t, w) for t in EVENT_TYPES) for w in windows_s)


def window_counts(state: ProfileState, p: ProfileParams) -> dict[str, int]:
    T = state.last_event_ts
    out: dict[str, int] = {}
    for w, names in zip(p.windows_s, _count_names(p.windows_s)):
        tail = state.types[bisect.bisect_right(state.ts, T - w * 1000):]
        for i, name in enumerate(names):
            out[name] = tail.count(i)
    return out


def _session(state: ProfileState, p: ProfileParams) -> tuple[int, int]:
    if not state.ts:
        return NEVER, 0
    gap = p.session_gap_s * 1000
    i = len(state.ts) - 1
    while i > 0 and state.ts[i] - state.ts[i - 1] <= gap:
        i -= 1
    return state.ts[i], len(state.ts) - i


def _top(scores: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def snapshot(state: ProfileState, p: ProfileParams) -> dict[str, object]:
    """Profile features as of the latest event (names and order of ``profile_features``)."""
    counts = window_counts(state, p)
    longest = max(p.windows_s)
    views = counts[count_feature("view", longest)]
    carts = counts[count_feature("cart", longest)]
    buys = counts[count_feature("purchase", longest)]
    to_T = 2.0 ** (-(state.last_event_ts - state.anchor_ts) / (p.half_life_s * 1000)) if state.cat else 1.0
    top_cats = _top(state.cat, p.top_k)
    brands = _top(state.brand, 1)
    brand_total = sum(state.brand.values())
    session_start, session_events = _session(state, p)
    out: dict[str, object] = {
        **counts,
        "top_categories": [c for c, _ in top_cats],
        "top_category_scores": [round(s * to_T, 6) for _, s in top_cats],
        "interest_total": round(sum(state.cat.values()) * to_T, 6),
        "top_brand": brands[0][0] if brands else "",
        "top_brand_share": round(brands[0][1] / brand_total, 6) if brands and brand_total > 0 else 0.0,
        "last_event_ts": state.last_event_ts,
        "last_cart_ts": state.last_cart_ts,
        "last_purchase_ts": state.last_purchase_ts,
        "session_start_ts": session_start,
        "session_events": session_events,
        "total_spend": round(state.total_spend, 4),
        "avg_price_viewed": round(state.viewed_price_sum / state.viewed_price_n, 4) if state.viewed_price_n else 0.0,
        "avg_price_purchased": round(state.purchased_price_sum / state.purchased_n, 4) if state.purchased_n else 0.0,
        "cart_to_purchase": round(buys / carts, 6) if carts else 0.0,
        "view_to_cart": round(carts / views, 6) if views else 0.0,
        **_search(state, p),
    }
    out["segment_id"] = segment_of(out, p.segments)   # from the features above: as offline
    return out


def _search(state: ProfileState, p: ProfileParams) -> dict[str, object]:
    """The search-intent features (``features.SEARCH_PROFILE_FEATURES``), scaled to ``T``."""
    words = [t for t, _ in _top(state.keywords, p.top_k)]
    if not state.search:
        return {"top_search_categories": [], "top_search_scores": [], "search_intent_total": 0.0,
                "top_search_keywords": words}
    to_T = 2.0 ** (-(state.last_event_ts - state.anchor_ts) / (p.half_life_s * 1000))
    top = _top(state.search, p.top_k)
    return {"top_search_categories": [c for c, _ in top],
            "top_search_scores": [round(s * to_T, 6) for _, s in top],
            "search_intent_total": round(sum(state.search.values()) * to_T, 6),
            "top_search_keywords": words}


def build(events, p: ProfileParams) -> ProfileState:
    """Fold an iterable of ``EventView`` into a fresh state (tests, offline builds)."""
    s = ProfileState()
    for ev in events:
        apply(s, ev, p)
    return s
