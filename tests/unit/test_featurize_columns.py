"""The column-wise feature matrix equals the row-by-row definition, bit for bit."""
from __future__ import annotations

import random

import numpy as np
import pytest

from udfs.core.featurize import AdColumns, AdView, Featurizer, RequestView, _num
from udfs.core.features import AGE_BANDS, DEVICES, MEMBERSHIP_TIERS

WINDOWS = (600, 3600, 86400)
ATTRS = ("age_band", "gender", "region", "registered_ts", "membership_tier")


def rowwise(fz: Featurizer, profile, ads, req) -> np.ndarray:
    """The matrix as first written: one Python row per ad (the specification)."""
    p = profile or {}
    user = fz.user_part(profile, req)
    cats = list(p.get("top_categories") or [])
    scores = list(p.get("top_category_scores") or [])
    total = _num(p, "interest_total")
    top_brand = p.get("top_brand") or ""
    avg_price = _num(p, "avg_price_viewed")
    device = float(DEVICES.index(req.device)) if req.device in DEVICES else 0.0
    hour = float((req.ts_ms // 3_600_000) % 24)
    known = 1.0 if any(v is not None for k, v in p.items() if k not in ATTRS) else 0.0
    age = float(AGE_BANDS.index(p["age_band"]) + 1) if p.get("age_band") in AGE_BANDS else 0.0
    tier = float(MEMBERSHIP_TIERS.index(p["membership_tier"]) + 1) if p.get("membership_tier") in MEMBERSHIP_TIERS else 0.0
    reg = p.get("registered_ts")
    tenure = max(req.ts_ms - reg, 0) / 86_400_000.0 if reg else 0.0
    attrs = (age, float(p.get("gender") == "f"), float(p.get("gender") == "m"), tier, tenure)
    s_cats = list(p.get("top_search_categories") or [])
    s_scores = list(p.get("top_search_scores") or [])
    s_total = _num(p, "search_intent_total")
    out = np.empty((len(ads), len(fz.names)), dtype=np.float32)
    for i, ad in enumerate(ads):
        rank = cats.index(ad.category_id) + 1 if ad.category_id in cats else 0
        interest = float(scores[rank - 1]) if rank and rank <= len(scores) else 0.0
        out[i, : fz._n_user] = user
        s_rank = s_cats.index(ad.category_id) + 1 if ad.category_id in s_cats else 0
        intent = float(s_scores[s_rank - 1]) if s_rank and s_rank <= len(s_scores) else 0.0
        out[i, fz._n_user:] = (
            interest, interest / total if total > 0 else 0.0, float(rank),
            1.0 if top_brand and ad.brand_id == top_brand else 0.0,
            ad.price / avg_price if avg_price > 0 else 0.0, ad.ctr_prior, ad.price, device,
            float(req.position), hour,
            1.0 if req.page_category and req.page_category == ad.category_id else 0.0, known,
            *attrs, intent, intent / s_total if s_total > 0 else 0.0, s_total)
    return out


def random_case(rng: random.Random):
    cats = [f"c{i}" for i in range(12)] + [None]
    brands = [f"b{i}" for i in range(5)] + [None, ""]
    ads = [AdView(f"cr{i}", rng.choice(cats), rng.choice(brands), rng.choice([0.0, rng.uniform(1, 300)]),
                  rng.random() / 10) for i in range(rng.randrange(0, 40))]
    profile = None
    if rng.random() < 0.85:
        top = rng.sample(cats[:-1], rng.randrange(0, 10))
        if top and rng.random() < 0.2:
            top.append(top[0])                        # a repeat: the first one counts
        profile = {"top_categories": top,
                   "top_category_scores": [rng.uniform(0, 9) for _ in top[: rng.randrange(0, len(top) + 1)]],
                   "interest_total": rng.choice([0.0, rng.uniform(0.1, 50)]),
                   "top_brand": rng.choice(brands),
                   "avg_price_viewed": rng.choice([None, 0.0, rng.uniform(1, 200)]),
                   "last_event_ts": rng.choice([None, 1_700_000_000_000]),
                   "session_events": rng.randrange(0, 30), "total_spend": rng.uniform(0, 900)}
        if rng.random() < 0.5:
            s_top = rng.sample(cats[:-1], rng.randrange(0, 6))
            profile.update(top_search_categories=s_top,
                           top_search_scores=[rng.uniform(0, 3) for _ in s_top[: rng.randrange(0, len(s_top) + 1)]],
                           search_intent_total=rng.choice([0.0, rng.uniform(0.1, 9)]))
        if rng.random() < 0.1:
            profile = {}
    if rng.random() < 0.5:
        profile = dict(profile or {}, age_band=rng.choice([*AGE_BANDS, "", "60+"]), gender=rng.choice("fmu"),
                       region="DE", membership_tier=rng.choice([*MEMBERSHIP_TIERS, ""]),
                       registered_ts=rng.choice([0, 1_690_000_000_000]))
    req = RequestView(1_700_000_000_000 + rng.randrange(10**8), rng.choice([*DEVICES, "toaster"]),
                      rng.choice(cats + [""]), rng.randrange(1, 5))
    return profile, ads, req


@pytest.mark.parametrize("seed", range(400))
def test_columns_equal_rows_bitwise(seed):
    rng = random.Random(seed)
    fz = Featurizer(WINDOWS)
    profile, ads, req = random_case(rng)
    want = rowwise(fz, profile, ads, req)
    got = fz.matrix(profile, ads, req)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    # the scoring step's way: columns of a whole catalogue, then a request's rows
    if ads:
        rows = np.array(sorted(rng.sample(range(len(ads)), rng.randrange(1, len(ads) + 1))))
        sub = fz.matrix(profile, AdColumns.of(ads).take(rows), req)
        assert sub.tobytes() == rowwise(fz, profile, [ads[i] for i in rows], req).tobytes()
