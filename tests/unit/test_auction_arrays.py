"""The array auction (udfs/core/auction_arrays.py) gives exactly what the reference auction
(udfs/core/ranking.py) gives: same ads, ranks, pCTRs, eCPMs and prices, to the last bit."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from udfs.core import auction_arrays as AA
from udfs.core.catalog import Campaign, Catalog, Creative
from udfs.config import load
from udfs.core.ranking import Candidate, auction
from udfs.messages.base import replace

SCORING = load("test").scoring


def random_world(rng: random.Random, n: int) -> Catalog:
    cat = Catalog()
    bids = [0.5, 1.0, 2.0]   # few distinct bids, so eCPMs tie often
    for i in range(n):
        bt = rng.choice(["CPM", "CPC", "CPA", "oCPA"])
        cat.put(Campaign(campaign_id=f"cmp{i}", advertiser_id=f"adv{rng.randrange(max(n // 3, 1))}",
                         daily_budget=10.0, bid_type=bt, bid=rng.choice(bids) if rng.random() < 0.6
                         else round(rng.uniform(0.01, 8.0), 3),
                         target_cpa=rng.uniform(1, 20) if bt == "oCPA" else None))
        # ids not in insertion order, so the id tie-break is really exercised
        cat.put(Creative(creative_id=f"cr{rng.randrange(10**6):06d}-{i}", ad_id=f"ad{i}",
                         campaign_id=f"cmp{i}", advertiser_id=cat.campaign(f"cmp{i}").advertiser_id))
    return cat


def reference(cat: Catalog, creatives, pctr, scoring, slot, n, cpa):
    cands = []
    for cr, p in zip(creatives, pctr):
        camp = cat.campaign(cr.campaign_id)
        observed, conv = cpa(camp.campaign_id) if camp.bid_type == "oCPA" else (None, 0)
        cands.append(Candidate(creative=cr, campaign=camp, pctr=p, observed_cpa=observed, conversions=conv))
    return auction(cands, scoring, slot=slot, num_ads=n)


@pytest.mark.parametrize("seed", range(300))
def test_same_ads_prices_and_order_as_the_reference(seed):
    rng = random.Random(seed)
    cat = random_world(rng, rng.randrange(1, 60))
    book = AA.AdBook(cat)
    creatives = rng.sample(cat.creatives(), rng.randrange(0, len(cat.creatives()) + 1))
    if creatives and rng.random() < 0.2:
        creatives.append(creatives[0])          # the same creative twice: shown once
    grid = [0.0, 0.001, 0.01, 0.05, 1.0]       # repeated pCTRs: ties on eCPM and on pCTR
    pctr = [rng.choice(grid) if rng.random() < 0.5 else rng.random() for _ in creatives]
    stats = {c.campaign_id: (rng.choice([None, rng.uniform(0.5, 30)]), rng.randrange(0, 40))
             for c in cat.campaigns()}
    scoring = dataclasses.replace(SCORING, reserve_ecpm=rng.choice([0.0, 0.5, 2.0]),
                                  max_ads_per_advertiser=rng.choice([1, 2, 3]),
                                  default_pcvr=rng.choice([0.02, 0.1]))
    n = rng.choice([0, 1, 2, 4, 10])
    want = reference(cat, creatives, pctr, scoring, "feed", n, stats.__getitem__)
    got = AA.auction(book, book.positions(creatives), np.array(pctr), scoring, slot="feed", num_ads=n,
                     cpa=stats.__getitem__)
    assert got == want
    # bitwise too (== would let 0.0 and -0.0 pass)
    assert [(a.ecpm.hex(), a.price.hex(), a.pctr.hex()) for a in got] == \
        [(a.ecpm.hex(), float(a.price).hex(), a.pctr.hex()) for a in want]


def test_checks_pctr_like_the_reference():
    cat = random_world(random.Random(1), 3)
    book = AA.AdBook(cat)
    crs = cat.creatives()
    for bad in (float("nan"), 1.5, -0.1):
        with pytest.raises(ValueError, match="pctr must be a probability"):
            AA.auction(book, book.positions(crs), np.array([0.1, bad, 0.2]), SCORING, slot="feed",
                       num_ads=2)


def test_book_skips_creatives_without_campaign():
    cat = random_world(random.Random(2), 4)
    orphan = replace(cat.creatives()[0], creative_id="orphan", campaign_id="gone")
    cat.put(orphan)
    book = AA.AdBook(cat)
    assert "orphan" not in book.index and len(book.creatives) == 4
    with pytest.raises(KeyError):
        book.positions([orphan])
