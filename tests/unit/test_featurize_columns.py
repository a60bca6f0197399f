"""The column-wise feature matrix equals the row-by-row definition, bit for bit."""
from __future__ import annotations

import random

import numpy as np
import pytest

from udfs.core.featurize import AdColumns, AdView, Featurizer, RequestView, _num
from udfs.core.features import DEVICES

WINDOWS = (600, 3600, 86400)


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
    known = 1.0 if profile else 0.0
    out = np.empty((len(ads), len(fz.names)), dtype=np.float32)
    for i, ad in enumerate(ads):
        rank = cats.index(ad.category_id) + 1 if ad.category_id in cats else 0
        interest = float(scores[rank - 1]) if rank and rank <= len(scores) else 0.0
        out[i, : fz._n_user] = user
        out[i, fz._n_user:] = (
            interest, interest / total if total > 0 else 0.0, float(rank),
            1.0 if top_brand and ad.brand_id == top_brand else 0.0,
            ad.price / avg_price if avg_price > 0 else 0.0, ad.ctr_prior, ad.price, device,
            float(req.position), hour,
            1.0 if req.page_category and req.page_category == ad.category_id else 0.0, known)
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
        if rng.random() < 0.1:
            profile = {}
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
