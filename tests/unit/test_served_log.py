"""The served-log format and its builder: round trip, bounds, malformed records refused with
the field named, and feature rows that come back as the float32 values the model scored."""
from __future__ import annotations

import json

import numpy as np
import pytest

from udfs.messages.examples import EXAMPLES
from udfs.core.catalog import Campaign, Creative
from udfs.core.features import feature_set_id, model_feature_names
from udfs.core.featurize import AdView, Featurizer, RequestView
from udfs.core.ranking import Candidate, auction, build_response
from udfs.core.served_log import AdTerms, build
from udfs.config import ReviewPolicy, Scoring
from udfs.errors import MessageError
from udfs.messages import AdRequest, RankedAd, RankedAds, RequestContext, ServedLog
from udfs.messages.served import charge_of

pytestmark = pytest.mark.unit

WINDOWS = (600, 3600, 86400)
NAMES = model_feature_names(WINDOWS)
SCORING = Scoring(default_pcvr=0.02, reserve_ecpm=0.5, max_ads_per_advertiser=2, campaign_caps=(),
                  creative_caps=(), review=ReviewPolicy(3, 90))
REQUEST = AdRequest(request_id="rq-1", user_id="u1", ts=1_764_600_000_000, slot="home_top", num_ads=3,
                    context=RequestContext(device="app", page_category="c2"))
PROFILE = {"cnt_view_1h": 7, "last_event_ts": 1_764_599_000_000, "session_start_ts": 1_764_598_000_000,
           "top_categories": ["c2", "c1"], "top_category_scores": [3.3, 1.1], "interest_total": 4.4,
           "top_brand": "b2", "avg_price_viewed": 33.3, "total_spend": 12.5}
ADS = [("m", "CPM", 3.0, "c1", 19.99), ("k", "CPC", 0.3, "c2", 7.1), ("a", "oCPA", 12.0, "c2", 55.5)]


def _served() -> tuple[ServedLog, np.ndarray, list[AdTerms]]:
    """A served log built the way the scoring step will: featurize, score, auction, build."""
    views = [AdView(f"cr_{i}", cat, f"b{n}", price, 0.01 + 0.001 * n)
             for n, (i, _bt, _bid, cat, price) in enumerate(ADS)]
    rows = Featurizer(WINDOWS).matrix(PROFILE, views, RequestView(REQUEST.ts, "app", "c2"))
    pctrs = [0.031, 0.052, 0.044]
    cands = []
    for (i, bt, bid, cat, _p), pctr in zip(ADS, pctrs):
        camp = Campaign(campaign_id=f"c_{i}", advertiser_id=f"adv_{i}", daily_budget=100.0, bid_type=bt,
                        bid=bid, target_cpa=bid if bt == "oCPA" else None)
        cr = Creative(creative_id=f"cr_{i}", ad_id=f"ad_{i}", campaign_id=camp.campaign_id,
                      advertiser_id=f"adv_{i}", category_id=cat, review_status="approved")
        cands.append(Candidate(creative=cr, campaign=camp, pctr=pctr, pcvr=0.05 if bt == "oCPA" else None))
    ranked = auction(cands, SCORING, slot=REQUEST.slot, num_ads=REQUEST.num_ads)
    answer = build_response(REQUEST, ranked, now_ms=REQUEST.ts + 4, model_version="v0003", variant="B")
    by_id = {c.creative.creative_id: (c, n) for n, c in enumerate(cands)}
    order = [by_id[a.creative_id][1] for a in ranked]
    terms = [AdTerms(cands[n].campaign.bid_type, cands[n].campaign.bid, cands[n].pcvr) for n in order]
    scored = rows[order]
    return build(REQUEST, answer, terms, scored, NAMES), scored, terms


def test_builder_carries_the_request_the_answer_and_each_ads_terms():
    log, rows, terms = _served()
    assert (log.request_id, log.user_id, log.slot, log.model_version, log.variant) == \
        ("rq-1", "u1", "home_top", "v0003", "B")
    assert log.ts == REQUEST.ts + 4 and not log.fallback and log.feature_set == feature_set_id(NAMES)
    assert [a.rank for a in log.ads] == [1, 2, 3]
    for ad, t in zip(log.ads, terms):
        assert (ad.bid_type, ad.bid, ad.pcvr) == (t.bid_type, t.bid, t.pcvr)
        unit = {"CPM": "impression", "CPC": "click", "oCPA": "conversion"}[ad.bid_type]
        assert ad.charged_on == unit
        assert ad.charge == (ad.price / 1000.0 if ad.bid_type == "CPM" else ad.price)
        assert len(ad.features) == len(NAMES)


def test_round_trip_gives_the_scored_float32_rows_bit_for_bit():
    log, rows, _ = _served()
    back = ServedLog.decode(log.encode())
    assert back == log
    got = np.array([a.features for a in back.ads]).astype(np.float32)
    assert got.tobytes() == rows.tobytes()
    # and the values on the wire are the float64 spellings of those float32 values, not rounded text
    wire = json.loads(log.encode())
    assert np.array([a["features"] for a in wire["ads"]], dtype=np.float32).tobytes() == rows.tobytes()


def test_feature_set_id_names_the_order():
    assert feature_set_id(NAMES) == feature_set_id(list(NAMES))
    assert feature_set_id(NAMES) != feature_set_id(NAMES[::-1])
    assert feature_set_id(NAMES).startswith("fs1-") and len(feature_set_id(NAMES)) == 20


def test_an_answer_without_a_model_logs_empty_rows():
    log, _, terms = _served()
    answer = build_response(REQUEST, [], now_ms=REQUEST.ts, model_version="none", fallback=True,
                            fallback_reason="no eligible ads")
    empty = build(REQUEST, answer, [], None, NAMES)
    assert empty.ads == () and empty.feature_set == "" and empty.fallback
    assert ServedLog.decode(empty.encode()) == empty


def _doc(**changes) -> dict:
    log, _, _ = _served()
    doc = log.to_dict()
    for path, value in changes.items():
        node = doc
        *head, last = path.split("__")
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize("path, value, field, reason", [
    ("ads__0__features__3", 0.1, "ads[0].features[3]", "not a float32 value"),
    ("ads__1__features__0", 1e39, "ads[1].features[0]", "not a float32 value"),
    ("ads__0__features__0", "x", "ads[0].features[0]", "expected a number"),
    ("ads__0__charge", 123.0, "ads[0].charge", "must be"),
    ("ads__0__charged_on", "banner", "ads[0].charged_on", "one of"),
    ("ads__0__bid_type", "CPX", "ads[0].bid_type", "one of"),
    ("ads__0__pctr", 1.5, "ads[0].pctr", "<= 1.0"),
    ("ads__0__pcvr", -0.1, "ads[0].pcvr", ">= 0.0"),
    ("ads__0__price", -1.0, "ads[0].price", ">= 0.0"),
    ("ads__0__rank", 3, "ads", "ranks must be"),
    ("request_id", "", "request_id", "must not be empty"),
    ("slot", "x" * 65, "slot", "longer than 64"),
    ("feature_set", "", "feature_set", "required when"),
    ("fallback", True, "fallback_reason", "required when"),
    ("ts", -1, "ts", ">= 0"),
])
def test_a_malformed_record_is_refused_naming_the_field(path, value, field, reason):
    raw = json.dumps(_doc(**{path: value}))
    with pytest.raises(MessageError) as e:
        ServedLog.decode(raw)
    assert e.value.field == field and reason in e.value.reason, str(e.value)


def test_a_wrong_charge_unit_for_the_bid_type_is_refused():
    log, _, _ = _served()
    doc = log.to_dict()
    cpm = next(i for i, a in enumerate(doc["ads"]) if a["bid_type"] == "CPM")
    doc["ads"][cpm]["charged_on"] = "click"
    with pytest.raises(MessageError, match="charged per impression"):
        ServedLog.decode(json.dumps(doc))


def test_rows_of_different_widths_are_refused():
    doc = _doc()
    doc["ads"][1]["features"] = doc["ads"][1]["features"][:-1]
    with pytest.raises(MessageError, match="different lengths"):
        ServedLog.decode(json.dumps(doc))
    doc["ads"][1]["features"] = []
    with pytest.raises(MessageError, match="different lengths"):
        ServedLog.decode(json.dumps(doc))


def test_too_many_features_or_ads_are_refused():
    doc = _doc()
    doc["ads"][0]["features"] = [0.0] * 1025
    with pytest.raises(MessageError, match="more than 1024 items"):
        ServedLog.decode(json.dumps(doc))
    doc = _doc()
    doc["ads"] = doc["ads"] * 17
    with pytest.raises(MessageError, match="more than 50 items"):
        ServedLog.decode(json.dumps(doc))


def test_the_builder_refuses_inputs_that_do_not_fit():
    _, rows, terms = _served()
    answer = build_response(REQUEST, [], now_ms=REQUEST.ts, model_version="v0003")
    other = AdRequest(request_id="rq-2", user_id=None, ts=1, slot="feed", num_ads=1)
    with pytest.raises(ValueError, match="not for request"):
        build(other, answer, [], None, NAMES)
    with pytest.raises(ValueError, match="3 bid terms for 0 ranked ads"):
        build(REQUEST, answer, terms, rows, NAMES)


def test_the_builder_wants_the_float32_matrix_the_model_scored():
    log, rows, terms = _served()
    ads = tuple(RankedAd(ad_id=a.ad_id, campaign_id=a.campaign_id, creative_id=a.creative_id,
                         advertiser_id=a.advertiser_id, rank=a.rank, pctr=a.pctr, ecpm=a.ecpm, price=a.price)
                for a in log.ads)
    answer = RankedAds(request_id="rq-1", ts=REQUEST.ts, ads=ads, model_version="v0003")
    with pytest.raises(ValueError, match="float32"):
        build(REQUEST, answer, terms, rows.astype(np.float64), NAMES)
    with pytest.raises(ValueError, match="shape"):
        build(REQUEST, answer, terms, rows[:2], NAMES)
    with pytest.raises(ValueError, match="shape"):
        build(REQUEST, answer, terms, rows, NAMES[:-1])
    assert build(REQUEST, answer, terms, rows, NAMES).ads == log.ads


def test_charge_per_bid_type():
    assert charge_of("CPM", 2.5) == 0.0025
    assert charge_of("CPC", 0.25) == 0.25
    assert charge_of("CPA", 9.0) == charge_of("oCPA", 9.0) == 9.0


def test_the_example_is_a_valid_served_log():
    ex = EXAMPLES[ServedLog]
    assert ServedLog.decode(ex.encode()) == ex and ex.ads[0].features[3] == float(np.float32(0.1))
