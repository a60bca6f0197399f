"""Build the CTR model's input rows from a profile, an ad and the request.

The same function serves training-set construction and online scoring, so the
model never sees a feature computed differently from how it was trained.
Pure: no I/O; ``profile`` is the mapping Feast (or the profile logic) returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from udfs.core.features import (AGE_BANDS, DEVICES, EVENT_TYPES, MEMBERSHIP_TIERS, NEVER, RECENCY_CAP_S,
                                attribute_feature_names, count_feature, model_feature_names)

# The user_attributes view's names: a row whose other values are all None is a user known by the
# user table alone (no profile yet).
_ATTRIBUTE_KEYS = frozenset(attribute_feature_names())
_AGE_CODE = {b: float(i + 1) for i, b in enumerate(AGE_BANDS)}
_TIER_CODE = {t: float(i + 1) for i, t in enumerate(MEMBERSHIP_TIERS)}
_DAY_MS = 86_400_000.0
_N_AD = 12   # the ad and request columns between the user's and the attribute block


@dataclass(frozen=True)
class AdView:
    """What scoring knows about one candidate creative."""
    creative_id: str
    category_id: str | None
    brand_id: str | None
    price: float
    ctr_prior: float


@dataclass(frozen=True)
class RequestView:
    ts_ms: int
    device: str
    page_category: str | None = None
    position: int = 1


class AdColumns:
    """Ads as columns: category and brand ids as codes into this instance's vocabularies,
    price and CTR prior as float64. The scoring step builds one per catalogue version and
    takes each request's rows."""

    def __init__(self, category: np.ndarray, brand: np.ndarray, price: np.ndarray,
                 ctr_prior: np.ndarray, cat_vocab: dict, brand_vocab: dict):
        self.category, self.brand, self.price, self.ctr_prior = category, brand, price, ctr_prior
        self.cat_vocab, self.brand_vocab = cat_vocab, brand_vocab

    @classmethod
    def of(cls, ads: Sequence[AdView]) -> "AdColumns":
        cats: dict = {}
        brands: dict = {}
        return cls(np.array([cats.setdefault(a.category_id, len(cats)) for a in ads], dtype=np.int64),
                   np.array([brands.setdefault(a.brand_id, len(brands)) for a in ads], dtype=np.int64),
                   np.array([a.price for a in ads], dtype=np.float64),
                   np.array([a.ctr_prior for a in ads], dtype=np.float64), cats, brands)

    def take(self, rows: np.ndarray) -> "AdColumns":
        return AdColumns(self.category[rows], self.brand[rows], self.price[rows], self.ctr_prior[rows],
                         self.cat_vocab, self.brand_vocab)

    def __len__(self) -> int:
        return len(self.price)


def _num(profile: Mapping, name: str, default: float = 0.0) -> float:
    v = profile.get(name)
    return default if v is None else float(v)


def has_profile(row: Mapping | None) -> bool:
    """True when ``row`` (the scorer's read: profile and attributes) holds a profile: a value
    that is not an attribute (the read gives an absent view's names as None)."""
    return bool(row) and any(v is not None for k, v in row.items() if k not in _ATTRIBUTE_KEYS)


def attributes_only(row: Mapping | None) -> dict | None:
    """The user's attributes of ``row`` (None when it holds none): what is left of a read whose
    profile has expired — the account's attributes do not expire with the behaviour."""
    out = {k: v for k, v in (row or {}).items() if k in _ATTRIBUTE_KEYS and v is not None}
    return out or None


def attribute_part(row: Mapping, req_ts_ms: int) -> list[float]:
    """The attribute columns (``features.ATTRIBUTE_MODEL_FEATURES``): codes, one-hots, tenure."""
    gender = row.get("gender")
    reg = row.get("registered_ts")
    return [_AGE_CODE.get(row.get("age_band"), 0.0), 1.0 if gender == "f" else 0.0,
            1.0 if gender == "m" else 0.0, _TIER_CODE.get(row.get("membership_tier"), 0.0),
            float(max(req_ts_ms - int(reg), 0) / _DAY_MS) if reg and int(reg) != NEVER else 0.0]


def _since(now_ms: int, ts: object) -> float:
    if not ts or int(ts) == NEVER:
        return RECENCY_CAP_S
    return float(min(max(now_ms - int(ts), 0) / 1000.0, RECENCY_CAP_S))


class Featurizer:
    """Turns (profile, candidates, request) into a float32 matrix in model-feature order."""

    def __init__(self, windows_s: Sequence[int]):
        self.windows_s = tuple(windows_s)
        self.names = model_feature_names(self.windows_s)
        self._counts = [count_feature(t, w) for w in self.windows_s for t in EVENT_TYPES]
        self._n_user = len(self._counts) + 9  # columns that depend on the user only

    def user_part(self, profile: Mapping | None, req: RequestView) -> list[float]:
        p = profile or {}
        last = p.get("last_event_ts") or NEVER
        start = p.get("session_start_ts") or NEVER
        return [_num(p, c) for c in self._counts] + [
            _since(req.ts_ms, last),
            _since(req.ts_ms, p.get("last_cart_ts")),
            _since(req.ts_ms, p.get("last_purchase_ts")),
            _num(p, "session_events"),
            float(max(int(last) - int(start), 0) / 1000.0) if last and start else 0.0,
            _num(p, "total_spend"),
            _num(p, "avg_price_viewed"),
            _num(p, "cart_to_purchase"),
            _num(p, "view_to_cart"),
        ]

    def matrix(self, profile: Mapping | None, ads: Sequence[AdView] | "AdColumns",
               req: RequestView) -> np.ndarray:
        """One row per ad: the user's columns repeated, then the ad's and the request's.

        Built column-wise in numpy with the same float64 operations a row-by-row loop
        would do, then rounded once to float32 (tests/unit/test_featurize_columns.py
        holds that loop and compares bit for bit)."""
        cols = ads if isinstance(ads, AdColumns) else AdColumns.of(ads)
        p = profile or {}
        user = self.user_part(profile, req)
        total = _num(p, "interest_total")
        top_brand = p.get("top_brand") or ""
        avg_price = _num(p, "avg_price_viewed")
        n = len(cols)
        # rank of each ad's category among the user's top categories (first match), 0 if none
        rank_of = np.zeros(len(cols.cat_vocab), dtype=np.float64)
        interest_of = np.zeros(len(cols.cat_vocab), dtype=np.float64)
        scores = list(p.get("top_category_scores") or [])
        for k, cat in enumerate(p.get("top_categories") or []):
            code = cols.cat_vocab.get(cat)
            if code is not None and rank_of[code] == 0:
                rank_of[code] = k + 1
                interest_of[code] = float(scores[k]) if k < len(scores) else 0.0
        rank, interest = rank_of[cols.category], interest_of[cols.category]
        brand = cols.brand_vocab.get(top_brand) if top_brand else None
        page = cols.cat_vocab.get(req.page_category) if req.page_category else None
        out = np.empty((n, len(self.names)), dtype=np.float32)
        out[:, : self._n_user] = np.asarray(user, dtype=np.float64)
        ad = out[:, self._n_user:]
        ad[:, 0] = interest
        ad[:, 1] = interest / total if total > 0 else 0.0
        ad[:, 2] = rank
        ad[:, 3] = (cols.brand == brand) if brand is not None else 0.0
        ad[:, 4] = cols.price / avg_price if avg_price > 0 else 0.0
        ad[:, 5] = cols.ctr_prior
        ad[:, 6] = cols.price
        ad[:, 7] = float(DEVICES.index(req.device)) if req.device in DEVICES else 0.0
        ad[:, 8] = float(req.position)
        ad[:, 9] = float((req.ts_ms // 3_600_000) % 24)
        ad[:, 10] = (cols.category == page) if page is not None else 0.0
        ad[:, 11] = 1.0 if has_profile(profile) else 0.0
        tail = out[:, self._n_user + _N_AD:]
        tail[:, :5] = np.asarray(attribute_part(p, req.ts_ms), dtype=np.float64)
        search = _category_values(p, "top_search_categories", "top_search_scores", cols)
        search_total = _num(p, "search_intent_total")
        tail[:, 5] = search
        tail[:, 6] = search / search_total if search_total > 0 else 0.0
        tail[:, 7] = search_total
        return out

    def row(self, profile: Mapping | None, ad: AdView, req: RequestView) -> dict[str, float]:
        return dict(zip(self.names, self.matrix(profile, [ad], req)[0].tolist()))


def _category_values(p: Mapping, cats_key: str, scores_key: str, cols: AdColumns) -> np.ndarray:
    """Each ad's category's score in ``p[scores_key]`` (aligned with ``p[cats_key]``; the first
    occurrence counts), 0 where absent."""
    value_of = np.zeros(len(cols.cat_vocab), dtype=np.float64)
    seen = np.zeros(len(cols.cat_vocab), dtype=bool)
    scores = list(p.get(scores_key) or [])
    for k, cat in enumerate(p.get(cats_key) or []):
        code = cols.cat_vocab.get(cat)
        if code is not None and not seen[code]:
            seen[code] = True
            value_of[code] = float(scores[k]) if k < len(scores) else 0.0
    return value_of[cols.category]
