"""What the world's hidden model says an answer is worth, the best answer it allows, and the regret.

The value of showing creative *a* at position *k* is its expected revenue at its bid under the
world's true click and conversion models (``scripts.synth.oracle``), as the site draws them:

- CPM: bid / 1000 (the impression is the charged event);
- CPC: bid × p_click(a, k);
- CPA, oCPA: bid × p_click(a, k) × p_convert(a).

The oracle policy fills the request's positions with the assignment of distinct candidate
creatives to distinct positions of the highest total value (``best``: an exact assignment,
``scipy.optimize.linear_sum_assignment``, because the position term of the click model is not
the same for every bid type). It ignores advertiser diversity and the reserve price, so it is
an upper bound on any policy over the same candidates, and the regret of an answer — the
oracle's value minus the answer's — is never negative (the answer's own ads are among the
candidates). Expected values, not drawn outcomes, so the regret has no click noise.

``RequestTruth`` holds one request's side of the click model: the user's decayed category and
brand scores and mean viewed price from the clickstream strictly before the request (exactly
what ``SiteWorld.state`` computes for one ad, here for all at once), the device, hour, page and
the user's latent clickiness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scripts.synth import oracle
from scripts.synth.site import Ad, SiteWorld
from udfs.messages.clickstream import DEVICES

_KINDS = {"CPM": 0, "CPC": 1, "CPA": 2, "oCPA": 2}


class AdTable:
    """Every creative the site knows as arrays (row per creative), with its campaign's bid."""

    def __init__(self, site: SiteWorld):
        self.site = site
        self.index: dict[str, int] = {}
        self.campaign: list[str] = []
        cols: dict[str, list] = {k: [] for k in ("cat", "brand", "price", "quality", "kind", "bid")}
        self._cols = cols

    def add(self, creative_id: str, ad: Ad, campaign_id: str, bid: float) -> int:
        if creative_id in self.index:
            return self.index[creative_id]
        c = self._cols
        c["cat"].append(self.site.cat_code.get(ad.category_id, -1))
        c["brand"].append(self.site.brand_code.get(ad.brand_id, -1))
        c["price"].append(ad.price)
        c["quality"].append(ad.quality)
        c["kind"].append(_KINDS[ad.bid_type])
        c["bid"].append(bid)
        self.campaign.append(campaign_id)
        self.index[creative_id] = len(self.campaign) - 1
        self._arrays = None
        return self.index[creative_id]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if getattr(self, "_arrays", None) is None:
            self._arrays = {k: np.asarray(v) for k, v in self._cols.items()}
        return self._arrays


@dataclass(frozen=True, eq=False)
class RequestTruth:
    cat_scores: np.ndarray      # by the site's category code, one extra 0 at the end (unknown: -1)
    brand_scores: np.ndarray
    avg_viewed_price: float     # NaN when the user viewed nothing priced
    device_index: int
    hour: int
    page_code: int              # the page category's code, -2 when none
    clickiness: float

    @classmethod
    def of(cls, site: SiteWorld, user_id: str | None, ts: int, device: str, page_category: str | None,
           params: oracle.OracleParams = oracle.DEFAULT) -> "RequestTruth":
        h = site.history.get(user_id) if user_id else None
        n_cat, n_brand = len(site.cat_code), len(site.brand_code)
        cats, brands, avg = np.zeros(n_cat + 1), np.zeros(n_brand + 1), np.nan
        if h is not None:
            m = int(np.searchsorted(h.ts, ts, side="left"))   # events strictly before ts, as the site
            w = np.exp2((h.ts[:m] - ts) / (params.half_life_s * 1000.0))
            cats[:n_cat] = np.bincount(h.cat[:m], w, minlength=n_cat)
            brands[:n_brand] = np.bincount(h.brand[:m], w, minlength=n_brand)
            seen = h.view_price[:m][np.isfinite(h.view_price[:m])]
            avg = float(seen.mean()) if len(seen) else np.nan
        page = site.cat_code.get(page_category, -2) if page_category else -2
        return cls(cats, brands, avg, DEVICES.index(device), int(ts // 3_600_000 % 24), page,
                   site.clickiness.get(user_id, 0.0) if user_id else 0.0)

    def values(self, ads: AdTable, rows: np.ndarray, positions: int,
               params: oracle.OracleParams = oracle.DEFAULT) -> np.ndarray:
        """(len(rows), positions): the value of each creative at positions 1..``positions``."""
        a = ads.arrays
        rows = np.asarray(rows, dtype=np.int64)
        cat, brand, price, quality = a["cat"][rows], a["brand"][rows], a["price"][rows], a["quality"][rows]
        cat_score, brand_score = self.cat_scores[cat], self.brand_scores[brand]
        p_click = oracle.p_click_batch(
            cat_score=cat_score[:, None], brand_score=brand_score[:, None], ad_price=price[:, None],
            avg_viewed_price=self.avg_viewed_price, device_index=self.device_index,
            position=np.arange(1, positions + 1, dtype=float)[None, :], hour=self.hour,
            page_match=(cat == self.page_code).astype(float)[:, None], quality=quality[:, None],
            clickiness=self.clickiness, params=params)
        p_conv = oracle.p_convert_batch(cat_score=cat_score, brand_score=brand_score, ad_price=price,
                                        avg_viewed_price=self.avg_viewed_price, quality=quality, params=params)
        return value_matrix(a["kind"][rows], a["bid"][rows], p_click, p_conv)


def value_matrix(kind: np.ndarray, bid: np.ndarray, p_click: np.ndarray, p_conv: np.ndarray) -> np.ndarray:
    """Expected revenue at bid per (creative, position): kind 0 CPM, 1 CPC, 2 CPA/oCPA."""
    kind, bid = np.asarray(kind)[:, None], np.asarray(bid, dtype=float)[:, None]
    p_conv = np.asarray(p_conv, dtype=float)[:, None]
    return np.where(kind == 0, bid / 1000.0 + 0.0 * p_click,
                    np.where(kind == 1, bid * p_click, bid * p_click * p_conv))


def best(values: np.ndarray) -> float:
    """The highest total value of distinct creatives (rows) at distinct positions (columns)."""
    if values.size == 0:
        return 0.0
    r, c = linear_sum_assignment(values, maximize=True)
    return float(values[r, c].sum())


def served(values: np.ndarray, rows: list[int], positions: list[int]) -> float:
    """The value of an answer: row ``rows[i]`` of ``values`` shown at position ``positions[i]`` (1-based)."""
    return float(sum(values[r, p - 1] for r, p in zip(rows, positions)))


def regret(values: np.ndarray, rows: list[int], positions: list[int]) -> tuple[float, float, float]:
    """(oracle value, answer value, regret): ≥ 0 (to rounding) when the answer's rows are among
    ``values``' rows, as the oracle may pick them too."""
    top, got = best(values), served(values, rows, positions)
    return top, got, top - got
