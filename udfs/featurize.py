"""Build the CTR model's input rows from a profile, an ad and the request.

The same function serves training-set construction and online scoring, so the
model never sees a feature computed differently from how it was trained.
Pure: no I/O; ``profile`` is the mapping Feast (or the profile logic) returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from udfs.features import DEVICES, EVENT_TYPES, NEVER, RECENCY_CAP_S, count_feature, model_feature_names


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


def _num(profile: Mapping, name: str, default: float = 0.0) -> float:
    v = profile.get(name)
    return default if v is None else float(v)


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

    def matrix(self, profile: Mapping | None, ads: Sequence[AdView], req: RequestView) -> np.ndarray:
        p = profile or {}
        user = self.user_part(profile, req)
        cats = list(p.get("top_categories") or [])
        scores = list(p.get("top_category_scores") or [])
        total = _num(p, "interest_total")
        top_brand = p.get("top_brand") or ""
        avg_price = _num(p, "avg_price_viewed")
        device = float(DEVICES.index(req.device)) if req.device in DEVICES else 0.0
        hour = float((req.ts_ms // 3_600_000) % 24)
        known = 1.0 if profile else 0.0
        out = np.empty((len(ads), len(self.names)), dtype=np.float32)
        for i, ad in enumerate(ads):
            rank = cats.index(ad.category_id) + 1 if ad.category_id in cats else 0
            interest = float(scores[rank - 1]) if rank and rank <= len(scores) else 0.0
            out[i, : self._n_user] = user
            out[i, self._n_user:] = (
                interest,
                interest / total if total > 0 else 0.0,
                float(rank),
                1.0 if top_brand and ad.brand_id == top_brand else 0.0,
                ad.price / avg_price if avg_price > 0 else 0.0,
                ad.ctr_prior,
                ad.price,
                device,
                float(req.position),
                hour,
                1.0 if req.page_category and req.page_category == ad.category_id else 0.0,
                known,
            )
        return out

    def row(self, profile: Mapping | None, ad: AdView, req: RequestView) -> dict[str, float]:
        return dict(zip(self.names, self.matrix(profile, [ad], req)[0].tolist()))
