"""The entities of a synthetic world, and the frozen world that holds them.

:mod:`scripts.synth.world` draws them. They are kept apart from the drawing so
each reads on its own: this module says what a world holds, that one how it is
drawn (and why its shapes look like real logs). Attributes marked *latent* are
ground truth that only the oracle sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from udfs.config import Generator


@dataclass(frozen=True)
class Category:
    category_id: str
    name: str


@dataclass(frozen=True)
class Brand:
    brand_id: str
    name: str
    category_id: str          # home category: most of its items live there


@dataclass(frozen=True)
class User:
    user_id: str
    age_band: str
    gender: str
    geo: str
    device: str               # preferred device
    activity: float           # latent: share of all events (sums to 1 over users)
    clickiness: float         # latent: logit offset in the oracle
    price_pref: float         # latent: log-price offset against a category's typical price
    interests: tuple[tuple[str, float], ...]   # latent: (category_id, weight), weights sum to 1


@dataclass(frozen=True)
class Item:
    item_id: str
    category_id: str
    brand_id: str
    price: float
    popularity: float         # latent: Zipf weight, sums to 1 over items


@dataclass(frozen=True)
class Advertiser:
    advertiser_id: str
    name: str
    category_ids: tuple[str, ...]
    brand_ids: tuple[str, ...]


@dataclass(frozen=True)
class Targeting:
    """Who a campaign wants; each dimension's empty tuple means anyone."""
    geos: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()    # category ids, matched against the user's top categories


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    advertiser_id: str
    category_id: str          # the category its creatives promote
    status: str               # active | paused
    daily_budget: float
    bid_type: str             # CPM | CPC | CPA | oCPA
    bid: float                # per 1000 impressions (CPM), click (CPC), conversion (CPA, oCPA)
    target_cpa: float | None  # oCPA only
    targeting: Targeting
    schedule_hours: tuple[int, ...]    # UTC hours it runs; empty = all day


@dataclass(frozen=True)
class Creative:
    creative_id: str
    ad_id: str
    campaign_id: str
    advertiser_id: str
    item_id: str              # the promoted item
    category_id: str
    brand_id: str
    price: float              # the promoted item's price
    quality: float            # latent: logit offset in the oracle
    review_status: str        # approved | pending | rejected
    title: str

    @property
    def landing_url(self) -> str:
        return f"https://shop.example/items/{self.item_id}"


@dataclass(frozen=True, eq=False)
class StaticWorld:
    """The drawn population and catalogue, plus index arrays the simulator needs.

    The tuples are the source of truth; the arrays (``*_idx``, ``*_cdf``, ...) are
    the same facts laid out for vectorised sampling.
    """
    params: Generator
    categories: tuple[Category, ...]
    brands: tuple[Brand, ...]
    users: tuple[User, ...]
    items: tuple[Item, ...]
    advertisers: tuple[Advertiser, ...]
    campaigns: tuple[Campaign, ...]
    creatives: tuple[Creative, ...]
    # --- arrays (row i describes entity i of the tuple above)
    category_weight: np.ndarray = field(repr=False)     # (K,) popularity, sums to 1
    category_log_price: np.ndarray = field(repr=False)  # (K,) typical log price
    interest_cdf: np.ndarray = field(repr=False)        # (U, K) cumulative interests
    item_category: np.ndarray = field(repr=False)       # (I,) category index
    item_brand: np.ndarray = field(repr=False)          # (I,) brand index
    item_price: np.ndarray = field(repr=False)          # (I,)
    item_popularity: np.ndarray = field(repr=False)     # (I,)
    brand_category: np.ndarray = field(repr=False)      # (B,) home category index

    @property
    def brand_index(self) -> dict[str, int]:
        return {b.brand_id: i for i, b in enumerate(self.brands)}

    @property
    def category_index(self) -> dict[str, int]:
        return {c.category_id: i for i, c in enumerate(self.categories)}
