"""The static half of a synthetic world: who the users are, what the shop sells, who advertises.

Everything here is drawn once from a seeded ``numpy.random.Generator`` and then
frozen; :mod:`scripts.synth.stream` animates it into time-ordered traffic. The
entities drawn here are defined in :mod:`scripts.synth.entities`.

Shapes were chosen to look like real e-commerce logs, because the models and
jobs downstream are only tested honestly on skewed data:

- **Users** have sparse latent interests (a Dirichlet over a few categories drawn
  by category popularity), a latent *clickiness* (logit offset), a latent price
  preference (log-price offset against each category's typical price), plain
  demographics (age band, gender, geo, preferred device) and an activity weight
  drawn from a Pareto law, so a tenth of the users make a large share of the events.
- **Items** belong to a category (sizes follow category popularity) and a brand
  (brands have a home category), have a log-normal price around their category's
  level, and a Zipf popularity.
- **Ads**: advertisers own 1–2 categories and some brands; campaigns carry status,
  budget, bid type/bid, targeting (geo, device, age, gender, interest categories;
  an empty tuple means "anyone") and UTC schedule hours (empty = all day);
  creatives promote one item of the campaign's category, carry a review status and
  a latent quality that only the oracle sees.

Most attributes are what a real system would know. The latent ones
(``activity``, ``clickiness``, ``price_pref``, ``interests``, ``quality``,
``popularity``) are ground truth: they are written to parquet with a
``latent_`` prefix, never to ``catalog.json`` or the wire.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scripts.synth.entities import (Advertiser, Brand, Campaign, Category, Creative, Item, StaticWorld,
                                    Targeting, User)
from udfs.config import Generator
from udfs.messages.catalog_change import BID_TYPES
from udfs.messages.clickstream import DEVICES

# Latent per-user clickiness (logit sd): the one term no feature can recover. Kept small so
# the oracle measures what a model can learn from observed behaviour (issue 4's 0.01 AUC bar).
CLICKINESS_SD = 0.1
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_P = (0.20, 0.30, 0.22, 0.15, 0.13)
GENDERS = ("f", "m", "u")
GENDER_P = (0.48, 0.46, 0.06)
GEOS = ("DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "US")
GEO_P = (0.22, 0.16, 0.15, 0.10, 0.10, 0.07, 0.07, 0.05, 0.08)
DEVICE_P = (0.50, 0.20, 0.08, 0.22)          # aligned with DEVICES
# BID_TYPES: the catalogue format's (imported above); their weights in a generated world:
BID_TYPE_P = (0.30, 0.40, 0.15, 0.15)
REVIEW_STATUSES = ("approved", "pending", "rejected")
REVIEW_P = (0.85, 0.10, 0.05)
CAMPAIGN_ACTIVE_P = 0.85

CATEGORY_NAMES = (
    "running shoes", "sneakers", "boots", "dresses", "jeans", "t-shirts", "jackets", "handbags",
    "watches", "sunglasses", "smartphones", "laptops", "headphones", "tablets", "cameras",
    "smart home", "kitchenware", "coffee", "tea", "snacks", "skincare", "makeup", "perfume",
    "haircare", "toys", "board games", "books", "video games", "fitness", "cycling", "camping",
    "furniture", "bedding", "lighting", "garden", "pet food", "baby care", "jewelry",
    "car accessories", "office supplies",
)
_SYLLABLES_A = ("nor", "vel", "kas", "lum", "tor", "bri", "zan", "mer", "ost", "fal", "rin", "dax")
_SYLLABLES_B = ("vik", "ora", "ent", "ix", "ano", "eld", "una", "ark", "ise", "ova", "uma", "ept")
_PROMOS = ("new season", "free delivery", "20% off", "limited offer", "best sellers",
           "just arrived", "members' prices", "top rated")


# ----------------------------------------------------------------- drawing

def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights ∝ rank^-exponent, ranks randomly assigned to the n entities."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** exponent
    w = w[rng.permutation(n)]
    return w / w.sum()


def _choice(rng: np.random.Generator, options: tuple, p: tuple, size: int) -> list:
    return [options[i] for i in rng.choice(len(options), size=size, p=np.asarray(p))]


def _category_names(k: int) -> list[str]:
    base = len(CATEGORY_NAMES)
    return [CATEGORY_NAMES[i % base] + ("" if i < base else f" {i // base + 1}") for i in range(k)]


def _brand_names(n: int, rng: np.random.Generator) -> list[str]:
    names, seen = [], set()
    for _ in range(n):
        a = _SYLLABLES_A[rng.integers(len(_SYLLABLES_A))]
        b = _SYLLABLES_B[rng.integers(len(_SYLLABLES_B))]
        name = (a + b).capitalize()
        suffix = 2
        while name in seen:
            name = f"{(a + b).capitalize()} {suffix}"
            suffix += 1
        seen.add(name)
        names.append(name)
    return names


def _draw_users(p: Generator, cat_w: np.ndarray, cat_ids: list[str],
                rng: np.random.Generator) -> tuple[tuple[User, ...], np.ndarray]:
    n, k = p.users, p.categories
    dense = np.zeros((n, k))
    for u in range(n):
        m = min(k, 1 + rng.poisson(1.5))
        support = rng.choice(k, size=m, replace=False, p=cat_w)
        dense[u, support] = rng.dirichlet(np.ones(m))
    # Pareto activity with a cap: heavy-tailed, but no single user owns the site.
    activity = np.minimum(rng.pareto(1.2, n) + 1.0, 50.0)
    activity /= activity.sum()
    clickiness = rng.normal(0.0, CLICKINESS_SD, n)
    price_pref = rng.normal(0.0, 0.4, n)
    ages = _choice(rng, AGE_BANDS, AGE_P, n)
    genders = _choice(rng, GENDERS, GENDER_P, n)
    geos = _choice(rng, GEOS, GEO_P, n)
    devices = _choice(rng, DEVICES, DEVICE_P, n)
    users = []
    for u in range(n):
        nz = np.flatnonzero(dense[u])
        nz = nz[np.argsort(-dense[u, nz], kind="stable")]
        users.append(User(
            user_id=f"u{u + 1:06d}", age_band=ages[u], gender=genders[u], geo=geos[u],
            device=devices[u], activity=float(activity[u]), clickiness=float(clickiness[u]),
            price_pref=float(price_pref[u]),
            interests=tuple((cat_ids[c], round(float(dense[u, c]), 6)) for c in nz)))
    cdf = np.cumsum(dense, axis=1)
    cdf[:, -1] = 1.0
    return tuple(users), cdf


def _draw_items(p: Generator, cat_w: np.ndarray, cat_logp: np.ndarray, brand_cat: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n, k, b = p.items, p.categories, p.brands
    cats = rng.choice(k, size=n, p=cat_w)
    cats[: min(n, k)] = np.arange(min(n, k))          # every category sells something
    brand_w = _zipf_weights(b, 0.9, rng)
    premium = rng.normal(0.0, 0.25, b)
    brands = np.empty(n, dtype=np.int64)
    for c in range(k):
        rows = np.flatnonzero(cats == c)
        if not len(rows):
            continue
        home = np.flatnonzero(brand_cat == c)
        pool = home if len(home) else np.arange(b)
        w = brand_w[pool] / brand_w[pool].sum()
        brands[rows] = pool[rng.choice(len(pool), size=len(rows), p=w)]
    log_price = cat_logp[cats] + premium[brands] + rng.normal(0.0, 0.35, n)
    price = np.maximum(np.round(np.exp(log_price), 2), 0.5)
    popularity = _zipf_weights(n, 1.05, rng)
    return cats, brands, price, popularity


def _draw_targeting(rng: np.random.Generator, category: int, cat_ids: list[str],
                    cat_w: np.ndarray) -> Targeting:
    geos: tuple[str, ...] = ()
    if rng.random() < 0.5:
        geos = tuple(sorted(_choice(rng, GEOS, GEO_P, 1 + rng.integers(3))))
        geos = tuple(dict.fromkeys(geos))
    devices: tuple[str, ...] = ()
    if rng.random() < 0.4:
        picks = rng.choice(len(DEVICES), size=2 + rng.integers(2), replace=False)
        devices = tuple(DEVICES[i] for i in sorted(picks))
    ages: tuple[str, ...] = ()
    if rng.random() < 0.4:
        lo = int(rng.integers(len(AGE_BANDS) - 1))
        ages = AGE_BANDS[lo: lo + 2 + int(rng.integers(2))]
    genders: tuple[str, ...] = ()
    if rng.random() < 0.25:
        genders = (("f", "m")[rng.integers(2)],)
    interests: tuple[str, ...] = ()
    if rng.random() < 0.4:
        extra = int(rng.choice(len(cat_ids), p=cat_w))
        interests = tuple(cat_ids[c] for c in sorted({category, extra}))
    return Targeting(geos=geos, devices=devices, age_bands=ages, genders=genders, interests=interests)


def _draw_bid(rng: np.random.Generator, bid_type: str) -> tuple[float, float | None]:
    if bid_type == "CPM":
        return round(float(rng.uniform(1.0, 6.0)), 2), None
    if bid_type == "CPC":
        return round(float(rng.uniform(0.05, 0.40)), 3), None
    cpa = round(float(rng.uniform(2.0, 15.0)), 2)
    return cpa, (cpa if bid_type == "oCPA" else None)


@dataclass(frozen=True, eq=False)
class _Shop:
    """What the shop sells, as drawn before the ad side: advertisers and creatives draw from it."""
    cat_ids: list[str]
    categories: tuple[Category, ...]
    cat_w: np.ndarray
    brand_cat: np.ndarray
    brands: tuple[Brand, ...]
    items: tuple[Item, ...]
    item_cat: np.ndarray
    item_brand: np.ndarray
    item_pop: np.ndarray


def _draw_categories(k: int, rng: np.random.Generator
                     ) -> tuple[list[str], tuple[Category, ...], np.ndarray, np.ndarray]:
    """The ``k`` categories, their Zipf popularity and their typical log price (price 8 to 250)."""
    cat_ids = [f"c{i + 1:03d}" for i in range(k)]
    categories = tuple(Category(cid, name) for cid, name in zip(cat_ids, _category_names(k)))
    cat_w = _zipf_weights(k, 0.8, rng)
    cat_logp = rng.uniform(np.log(8.0), np.log(250.0), k)
    return cat_ids, categories, cat_w, cat_logp


def _draw_brands(n: int, cat_ids: list[str], cat_w: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, tuple[Brand, ...]]:
    """``n`` brands, each with a home category drawn by popularity; returns its index and the brands."""
    brand_cat = rng.choice(len(cat_ids), size=n, p=cat_w)
    brand_names = _brand_names(n, rng)
    brands = tuple(Brand(f"b{i + 1:03d}", brand_names[i], cat_ids[brand_cat[i]])
                   for i in range(n))
    return brand_cat, brands


def _draw_advertisers(p: Generator, shop: _Shop,
                      rng: np.random.Generator) -> tuple[list[Advertiser], list[np.ndarray]]:
    """Advertisers owning 1–2 categories and 1–3 brands (homed there when any are).

    Also returns each advertiser's category indexes, from which its campaigns pick.
    """
    advertisers = []
    adv_cats: list[np.ndarray] = []
    for a in range(p.advertisers):
        cats = np.unique(rng.choice(p.categories, size=1 + rng.integers(2), p=shop.cat_w))
        home = np.flatnonzero(np.isin(shop.brand_cat, cats))
        pool = home if len(home) else np.arange(p.brands)
        own = np.sort(rng.choice(pool, size=min(len(pool), 1 + int(rng.integers(3))), replace=False))
        name = f"{shop.brands[own[0]].name} {('Retail', 'Group', 'Store', 'Direct')[a % 4]}"
        advertisers.append(Advertiser(f"adv{a + 1:02d}", name, tuple(shop.cat_ids[c] for c in cats),
                                      tuple(shop.brands[b].brand_id for b in own)))
        adv_cats.append(cats)
    return advertisers, adv_cats


def _draw_campaign(c: int, adv: Advertiser, adv_cats: np.ndarray, shop: _Shop,
                   rng: np.random.Generator) -> tuple[Campaign, int]:
    """Campaign number ``c`` of ``adv``, in one of its categories; returns it and that category's index.

    Draws: category, bid type, bid, schedule, then (in the constructor's argument
    order) status, budget and targeting.
    """
    cat = int(adv_cats[rng.integers(len(adv_cats))])
    bid_type = BID_TYPES[rng.choice(len(BID_TYPES), p=BID_TYPE_P)]
    bid, target_cpa = _draw_bid(rng, bid_type)
    hours: tuple[int, ...] = ()
    if rng.random() < 0.4:
        start, end = int(rng.integers(6, 11)), int(rng.integers(18, 24))
        hours = tuple(range(start, end + 1))
    camp = Campaign(
        campaign_id=f"cmp{c + 1:04d}", advertiser_id=adv.advertiser_id, category_id=shop.cat_ids[cat],
        status="active" if rng.random() < CAMPAIGN_ACTIVE_P else "paused",
        daily_budget=round(float(np.exp(rng.normal(np.log(200.0), 0.8))), 2),
        bid_type=bid_type, bid=bid, target_cpa=target_cpa,
        targeting=_draw_targeting(rng, cat, shop.cat_ids, shop.cat_w), schedule_hours=hours)
    return camp, cat


def _draw_creatives(p: Generator, camp: Campaign, adv: Advertiser, cat: int, numbered: int,
                    shop: _Shop, rng: np.random.Generator) -> list[Creative]:
    """1..``creatives_per_campaign`` creatives for ``camp``, numbered on from ``numbered``.

    Each promotes an item of the campaign's category, by item popularity, from the
    advertiser's own brands when it has any there (else the category, else any item).
    """
    in_cat = np.flatnonzero(shop.item_cat == cat)
    own_brand = in_cat[np.isin([shop.brands[b].brand_id for b in shop.item_brand[in_cat]], adv.brand_ids)]
    pool = own_brand if len(own_brand) else (in_cat if len(in_cat) else np.arange(p.items))
    creatives = []
    for _ in range(1 + int(rng.integers(p.creatives_per_campaign))):
        w = shop.item_pop[pool] / shop.item_pop[pool].sum()
        idx = int(pool[rng.choice(len(pool), p=w)])
        it = shop.items[idx]
        numbered += 1
        brand_name = shop.brands[int(shop.item_brand[idx])].name
        title = (f"{brand_name} {shop.categories[cat].name}: "
                 f"{_PROMOS[rng.integers(len(_PROMOS))]}")
        creatives.append(Creative(
            creative_id=f"cr{numbered:05d}", ad_id=f"ad{numbered:05d}",
            campaign_id=camp.campaign_id, advertiser_id=adv.advertiser_id, item_id=it.item_id,
            category_id=it.category_id, brand_id=it.brand_id, price=it.price,
            quality=round(float(rng.normal(0.0, 0.5)), 6),
            review_status=REVIEW_STATUSES[rng.choice(len(REVIEW_STATUSES), p=REVIEW_P)],
            title=title))
    return creatives


def _draw_campaigns(p: Generator, shop: _Shop, advertisers: list[Advertiser],
                    adv_cats: list[np.ndarray],
                    rng: np.random.Generator) -> tuple[list[Campaign], list[Creative]]:
    """The campaigns, each followed by its creatives (draws interleave campaign by campaign).

    Every advertiser gets one campaign first (while there are enough); the rest go to
    advertisers drawn uniformly.
    """
    campaigns, creatives = [], []
    owners = np.concatenate([np.arange(min(p.campaigns, p.advertisers)),
                             rng.integers(0, p.advertisers, max(0, p.campaigns - p.advertisers))])
    for c in range(p.campaigns):
        a = int(owners[c])
        camp, cat = _draw_campaign(c, advertisers[a], adv_cats[a], shop, rng)
        campaigns.append(camp)
        creatives += _draw_creatives(p, camp, advertisers[a], cat, len(creatives), shop, rng)
    return campaigns, creatives


def build(p: Generator, rng: np.random.Generator) -> StaticWorld:
    """Draw the users, items and ad catalogue of one world from ``rng``.

    The steps run in a fixed order (categories, brands, users, items, advertisers,
    campaigns with their creatives) because they share ``rng``: reordering them,
    or any draw within them, changes every world drawn from a seed.
    """
    cat_ids, categories, cat_w, cat_logp = _draw_categories(p.categories, rng)
    brand_cat, brands = _draw_brands(p.brands, cat_ids, cat_w, rng)
    users, interest_cdf = _draw_users(p, cat_w, cat_ids, rng)
    item_cat, item_brand, item_price, item_pop = _draw_items(p, cat_w, cat_logp, brand_cat, rng)
    items = tuple(Item(f"i{i + 1:05d}", cat_ids[item_cat[i]], brands[item_brand[i]].brand_id,
                       float(item_price[i]), float(item_pop[i])) for i in range(p.items))
    shop = _Shop(cat_ids=cat_ids, categories=categories, cat_w=cat_w, brand_cat=brand_cat,
                 brands=brands, items=items, item_cat=item_cat, item_brand=item_brand,
                 item_pop=item_pop)
    advertisers, adv_cats = _draw_advertisers(p, shop, rng)
    campaigns, creatives = _draw_campaigns(p, shop, advertisers, adv_cats, rng)
    return StaticWorld(
        params=p, categories=categories, brands=brands, users=users, items=items,
        advertisers=tuple(advertisers), campaigns=tuple(campaigns), creatives=tuple(creatives),
        category_weight=cat_w, category_log_price=cat_logp, interest_cdf=interest_cdf,
        item_category=item_cat, item_brand=item_brand, item_price=item_price,
        item_popularity=item_pop, brand_category=brand_cat)
