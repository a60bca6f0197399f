"""The auction: eCPM per bid type, reserve, diversity, tie-breaking, GSP prices, fallback."""
from __future__ import annotations

import dataclasses
import itertools

import pytest

from udfs.core.catalog import Campaign, Catalog, Creative
from udfs.config import ReviewPolicy, Scoring, load
from udfs.errors import MessageError
from udfs.messages.ad_request import AdRequest
from udfs.messages.base import replace
from udfs.messages.ranked_ads import RankedAds
from udfs.core.ranking import (Candidate, auction, build_response, cpm_equivalent, ecpm, ocpa_factor,
                          prior_ctr, rank_fallback, score)

pytestmark = pytest.mark.unit

SCORING = Scoring(default_pcvr=0.02, reserve_ecpm=0.5, max_ads_per_advertiser=2,
                  campaign_caps=(), creative_caps=(), review=ReviewPolicy(3, 90),
                  ocpa_min_conversions=20, ocpa_min_factor=0.5, ocpa_max_factor=1.5,
                  fallback_prior_ctr=0.01, fallback_context_boost=1.0)


def cand(cid, bid_type, bid, pctr, pcvr=None, adv=None, target_cpa=None, observed_cpa=None,
         conversions=0, category="cat_1") -> Candidate:
    adv = adv or f"adv_{cid}"
    camp = Campaign(campaign_id=f"c_{cid}", advertiser_id=adv, daily_budget=100.0, bid_type=bid_type,
                    bid=bid, target_cpa=target_cpa)
    cr = Creative(creative_id=cid, ad_id=f"ad_{cid}", campaign_id=camp.campaign_id, advertiser_id=adv,
                  category_id=category, review_status="approved")
    return Candidate(creative=cr, campaign=camp, pctr=pctr, pcvr=pcvr,
                     observed_cpa=observed_cpa, conversions=conversions)


def order(ads):
    return [a.creative_id for a in ads]


# ------------------------------------------------------------------- eCPM

@pytest.mark.parametrize("c, expected", [
    (cand("m", "CPM", 2.5, 0.01), 2.5),
    (cand("c", "CPC", 0.4, 0.02), 8.0),                      # 0.4 x 0.02 x 1000
    (cand("a", "CPA", 30.0, 0.02, pcvr=0.05), 30.0),         # 30 x 0.02 x 0.05 x 1000
    (cand("d", "CPA", 30.0, 0.02), 12.0),                    # default pCVR 0.02
    (cand("o1", "oCPA", 30.0, 0.02, 0.05, target_cpa=20.0, observed_cpa=25.0, conversions=50), 24.0),
    (cand("o2", "oCPA", 30.0, 0.02, 0.05, target_cpa=20.0, observed_cpa=10.0, conversions=50), 45.0),
    (cand("o3", "oCPA", 30.0, 0.02, 0.05, target_cpa=20.0, observed_cpa=100.0, conversions=50), 15.0),
    (cand("o4", "oCPA", 30.0, 0.02, 0.05, target_cpa=20.0, observed_cpa=100.0, conversions=19), 30.0),
    (cand("o5", "oCPA", 30.0, 0.02, 0.05, target_cpa=20.0, conversions=50), 30.0),
])
def test_ecpm_per_bid_type(c, expected):
    assert ecpm(c, SCORING) == pytest.approx(expected, rel=1e-12)


def test_ocpa_factor_formula():
    camp = cand("o", "oCPA", 30.0, 0.02, target_cpa=20.0).campaign
    assert ocpa_factor(camp, 25.0, 20, SCORING) == pytest.approx(0.8)    # overspending: bid lower
    assert ocpa_factor(camp, 16.0, 20, SCORING) == pytest.approx(1.25)   # under target: bid higher
    assert ocpa_factor(camp, 1.0, 20, SCORING) == 1.5                    # clamped
    assert ocpa_factor(camp, 1000.0, 20, SCORING) == 0.5
    assert ocpa_factor(camp, 25.0, 19, SCORING) == 1.0                   # too few conversions
    assert ocpa_factor(camp, 0.0, 99, SCORING) == 1.0


def test_candidate_validation():
    with pytest.raises(ValueError, match="pctr"):
        cand("x", "CPC", 1.0, 1.5)
    with pytest.raises(ValueError, match="pcvr"):
        cand("x", "CPA", 1.0, 0.1, pcvr=-0.1)
    c = cand("x", "CPC", 1.0, 0.1)
    with pytest.raises(ValueError, match="not the creative's"):
        dataclasses.replace(c, campaign=replace(c.campaign, campaign_id="other"))


# --------------------------------------------------------------- auction

def crafted():
    return [
        cand("A", "CPM", 4.0, 0.01),                  # eCPM 4.0
        cand("B", "CPC", 0.6, 0.005),                 # eCPM 0.6 x 0.005 x 1000 = 3.0
        cand("C", "CPA", 20.0, 0.01, pcvr=0.01),      # eCPM 20 x 0.01 x 0.01 x 1000 = 2.0
        cand("D", "CPC", 0.05, 0.008),                # eCPM 0.4 < reserve 0.5: dropped
    ]


def test_second_price_hand_computed():
    ads = auction(crafted(), SCORING, slot="home_top", num_ads=3)
    assert order(ads) == ["A", "B", "C"] and [a.rank for a in ads] == [1, 2, 3]
    a, b, c = ads
    assert a.ecpm == pytest.approx(4.0) and a.price == pytest.approx(3.0)    # CPM: next eCPM
    assert b.ecpm == pytest.approx(3.0) and b.price == pytest.approx(0.4)    # per click: 2.0 / (0.005 x 1000)
    assert c.ecpm == pytest.approx(2.0) and c.price == pytest.approx(5.0)    # per conversion: reserve 0.5 / 0.1
    assert (b.ad_id, b.campaign_id, b.advertiser_id, b.pctr) == ("ad_B", "c_B", "adv_B", 0.005)


def test_last_winner_priced_by_first_loser():
    ads = auction(crafted(), SCORING, slot="home_top", num_ads=2)
    assert order(ads) == ["A", "B"]
    assert ads[1].price == pytest.approx(0.4)          # C (2.0) sets B's price though C lost


def test_price_equals_own_bid_when_tied_and_never_above():
    ads = auction([cand("y", "CPM", 5.0, 0.01), cand("x", "CPM", 5.0, 0.02)], SCORING, slot="s", num_ads=2)
    assert order(ads) == ["x", "y"] and ads[0].price == 5.0          # tie: pays its whole bid
    ads = auction([cand("x", "CPC", 0.5, 0.01), cand("y", "CPM", 5.0, 0.001)], SCORING,
                  slot="s", num_ads=1)
    assert order(ads) == ["x"] and ads[0].price == 0.5               # capped at own bid


def test_reserve_global_and_per_slot():
    s = dataclasses.replace(SCORING, slot_reserve_ecpm={"premium": 3.0})
    assert order(auction(crafted(), s, slot="home_top", num_ads=10)) == ["A", "B", "C"]
    ads = auction(crafted(), s, slot="premium", num_ads=10)
    assert order(ads) == ["A", "B"]                    # B exactly at reserve stays
    assert ads[0].price == pytest.approx(3.0) and ads[1].price == pytest.approx(0.6)  # floor 3.0 / 5
    assert auction(crafted(), dataclasses.replace(SCORING, reserve_ecpm=10.0), slot="x", num_ads=3) == []


def test_zero_ecpm_never_shown():
    assert auction([cand("z", "CPC", 1.0, 0.0)], dataclasses.replace(SCORING, reserve_ecpm=0.0),
                   slot="s", num_ads=1) == []


def test_advertiser_diversity_and_its_effect_on_price():
    cands = [cand("a1", "CPM", 10.0, 0.01, adv="acme"), cand("a2", "CPM", 9.0, 0.01, adv="acme"),
             cand("a3", "CPM", 8.0, 0.01, adv="acme"), cand("b1", "CPM", 7.0, 0.01, adv="bolt")]
    ads = auction(cands, SCORING, slot="s", num_ads=3)
    assert order(ads) == ["a1", "a2", "b1"]
    assert ads[1].price == pytest.approx(7.0)          # a3 was not in the auction
    one = auction(cands, dataclasses.replace(SCORING, max_ads_per_advertiser=1), slot="s", num_ads=3)
    assert order(one) == ["a1", "b1"]


def test_tie_breaking_is_deterministic():
    cands = [cand("k", "CPM", 5.0, 0.01), cand("b", "CPM", 5.0, 0.01), cand("z", "CPM", 5.0, 0.02),
             cand("a", "CPM", 6.0, 0.001)]
    expected = ["a", "z", "b", "k"]                    # eCPM desc, pCTR desc, creative_id asc
    for perm in itertools.permutations(cands):
        assert order(auction(list(perm), SCORING, slot="s", num_ads=4)) == expected


def test_num_ads_limits_and_duplicate_creatives_once():
    c = cand("A", "CPM", 4.0, 0.01)
    assert order(auction([c, c, cand("B", "CPM", 3.0, 0.01)], SCORING, slot="s", num_ads=5)) == ["A", "B"]
    assert order(auction(crafted(), SCORING, slot="s", num_ads=1)) == ["A"]


def test_cpm_equivalent():
    assert cpm_equivalent(0.4, "CPC", 0.005, 0.0) == pytest.approx(2.0)
    assert cpm_equivalent(3.0, "CPM", 0.5, 0.5) == 3.0
    assert cpm_equivalent(5.0, "CPA", 0.01, 0.01) == pytest.approx(0.5)
    s = score(cand("C", "CPA", 20.0, 0.01, pcvr=0.01), SCORING)
    assert (s.bid, s.pcvr) == (20.0, 0.01) and s.quality == pytest.approx(0.1)


# ---------------------------------------------------------------- fallback

def fallback_world():
    cat = Catalog()
    creatives = []
    for cid, category in (("f1", "cat_1"), ("f2", "cat_2"), ("f3", "cat_3")):
        cat.put(Campaign(campaign_id=f"c_{cid}", advertiser_id=f"adv_{cid}", daily_budget=10.0,
                         bid_type="CPC", bid=0.1))
        cr = Creative(creative_id=cid, ad_id=cid, campaign_id=f"c_{cid}", advertiser_id=f"adv_{cid}",
                      category_id=category, review_status="approved")
        cat.put(cr)
        creatives.append(cr)
    return cat, creatives


def test_prior_ctr_creative_then_category_then_default():
    _, (f1, f2, f3) = fallback_world()
    kw = dict(creative_priors={"f1": 0.05}, category_priors={"cat_1": 0.9, "cat_2": 0.03})
    assert prior_ctr(f1, SCORING, **kw) == 0.05
    assert prior_ctr(f2, SCORING, **kw) == 0.03
    assert prior_ctr(f3, SCORING, **kw) == 0.01
    boosted = dataclasses.replace(SCORING, fallback_context_boost=2.0)
    assert prior_ctr(f3, boosted, page_category="cat_3", **kw) == 0.02
    assert prior_ctr(f3, boosted, page_category="cat_9", **kw) == 0.01
    assert prior_ctr(f1, SCORING, creative_priors={"f1": 3.0}) == 1.0


def test_fallback_ranking_uses_priors():
    cat, creatives = fallback_world()
    kw = dict(creative_priors={"f1": 0.05}, category_priors={"cat_2": 0.03})
    ads = rank_fallback(creatives, cat, SCORING, slot="s", num_ads=3, **kw)
    assert order(ads) == ["f1", "f2", "f3"]
    assert [a.ecpm for a in ads] == pytest.approx([5.0, 3.0, 1.0])   # 0.1 x prior x 1000
    assert [a.pctr for a in ads] == [0.05, 0.03, 0.01]
    s = dataclasses.replace(SCORING, fallback_context_boost=4.0)
    ads = rank_fallback(creatives, cat, s, slot="s", num_ads=3, page_category="cat_3", **kw)
    assert order(ads) == ["f1", "f3", "f2"]                           # 0.01 x 4 = 0.04 > 0.03
    cat.remove("campaign", "c_f1")
    assert order(rank_fallback(creatives, cat, SCORING, slot="s", num_ads=3, **kw)) == ["f2", "f3"]


# ---------------------------------------------------------------- response

REQ = AdRequest(request_id="r1", user_id="u1", ts=1, slot="home_top", num_ads=2)


def test_build_response_personalised():
    ads = auction(crafted(), SCORING, slot=REQ.slot, num_ads=3)
    resp = build_response(REQ, ads, now_ms=5, model_version="v3", variant="treatment",
                          timings_ms={"features": 1, "score": 2.5})
    assert isinstance(resp, RankedAds)
    assert (resp.request_id, resp.ts, resp.model_version, resp.variant, resp.fallback) == \
        ("r1", 5, "v3", "treatment", False)
    assert order(resp.ads) == ["A", "B"]                           # at most num_ads
    assert resp.timings_ms == {"features": 1.0, "score": 2.5}
    assert RankedAds.decode(resp.encode()) == resp


def test_build_response_fallback_flagged():
    cat, creatives = fallback_world()
    ads = rank_fallback(creatives, cat, SCORING, slot="s", num_ads=2)
    resp = build_response(REQ, ads, now_ms=5, model_version="none", fallback=True,
                          fallback_reason="feature store timeout")
    assert resp.fallback and resp.fallback_reason == "feature store timeout"
    with pytest.raises(MessageError, match="fallback_reason"):
        build_response(REQ, ads, now_ms=5, model_version="none", fallback=True)
    assert build_response(REQ, [], now_ms=5, model_version="v3").ads == ()


def test_scoring_config_section_loads():
    s = load("test").scoring
    assert s.reserve_for("anything") == s.reserve_ecpm
    assert s.campaign_caps and s.creative_caps and s.max_ads_per_advertiser >= 1
