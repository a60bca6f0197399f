"""User attributes and search-keyword intent: the tokeniser, the keyword map, the fold, the user
table, and targeting by age band, gender and region."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from udfs.core import keywords as K
from udfs.core import profile as P
from udfs.core import users
from udfs.core.catalog import Advertiser, Campaign, Catalog, Creative, Targeting
from udfs.core.budget import UnlimitedBudget
from udfs.core.featurize import AdView, Featurizer, RequestView, attributes_only, has_profile
from udfs.core.targeting import AGE, GENDER, GEO, UserAttrs, eligible
from udfs.messages.ad_request import RequestContext

pytestmark = pytest.mark.unit

T0 = 1764547200000
HL = 3600


# ------------------------------------------------------------------ tokeniser

def test_latin_queries_are_lower_cased_word_tokens():
    assert K.tokenise("Running-Shoes  for MEN, size 42!") == ["running", "shoes", "for", "men", "size", "42"]
    assert K.tokenise("Café crème") == ["café", "crème"]
    assert K.tokenise("") == [] and K.tokenise(None) == []


def test_chinese_queries_become_character_bigrams():
    assert K.tokenise("跑步鞋") == ["跑步", "步鞋"]
    assert K.tokenise("鞋") == ["鞋"]


def test_mixed_scripts_split_at_the_script_boundary():
    assert K.tokenise("Nike跑步鞋 2024款") == ["nike", "跑步", "步鞋", "2024", "款"]
    assert K.tokenise("iPhone手机壳") == ["iphone", "手机", "机壳"]


# ------------------------------------------------------------------ learning

def _session(sid, t, query, views):
    out = [(sid, t, "search", query, None)]
    out += [(sid, t + 1 + i, "view", None, c) for i, c in enumerate(views)]
    return out


def planted_events():
    """'shoes'/'跑步鞋' are followed by views of c_shoes, 'tea'/'茶叶' by c_tea; 'best' by both."""
    ev = []
    for i in range(6):
        ev += _session(f"s{i}", 1000 * i, "best shoes" if i % 2 else "跑步鞋", ["c_shoes", "c_shoes", "c_x"])
        ev += _session(f"t{i}", 1000 * i, "best tea" if i % 2 else "茶叶", ["c_tea", "c_tea"])
    return ev


def test_learn_recovers_planted_keyword_categories():
    m = K.learn(planted_events(), K.LearnParams(follow_views=5, min_count=2, top_k=3))
    assert m.rows["shoes"][0][0] == "c_shoes" and m.rows["跑步"][0][0] == "c_shoes"
    assert m.rows["tea"] == (("c_tea", 1.0),) and m.rows["茶叶"] == (("c_tea", 1.0),)
    assert {c for c, _ in m.rows["best"]} == {"c_shoes", "c_tea", "c_x"}
    for row in m.rows.values():
        assert sum(w for _, w in row) == pytest.approx(1.0)
    # TF-IDF: a keyword in half the sessions weighs less than one in a quarter of them
    assert m.idf["best"] < m.idf["shoes"]
    assert m.intent("best shoes")[0][0] == "c_shoes"
    assert m.intent("茶叶")[0][0] == "c_tea"
    assert m.intent("unknown words") == ()


def test_min_count_and_a_later_search_bound_what_a_search_is_credited_with():
    ev = _session("a", 0, "lamp", ["c_light"]) + _session("b", 0, "lamp", ["c_light"])
    ev += [("c", 0, "search", "lamp", None), ("c", 1, "search", "sofa", None), ("c", 2, "view", None, "c_sofa")]
    m = K.learn(ev, K.LearnParams(follow_views=5, min_count=2, top_k=3))
    assert m.rows["lamp"] == (("c_light", 1.0),)     # the sofa view followed another search
    assert "sofa" not in m.rows                        # seen once: below min_count


def test_map_round_trips_through_its_document_and_refuses_another():
    m = K.learn(planted_events())
    back = K.KeywordMap.from_doc(json.loads(json.dumps(m.to_doc())))
    got, want = back.intent("best shoes"), m.intent("best shoes")
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [w for _, w in got] == pytest.approx([w for _, w in want], rel=1e-5)
    with pytest.raises(ValueError, match="not a keyword map"):
        K.KeywordMap.from_doc({"format": "other"})


def test_evaluate_counts_hits_on_held_out_searches():
    m = K.learn(planted_events())
    got = K.evaluate(m, _session("h1", 0, "shoes", ["c_shoes"]) + _session("h2", 0, "tea", ["c_shoes"])
                     + _session("h3", 0, "zzz", ["c_tea"]))
    assert got == {"searches": 3, "coverage": pytest.approx(2 / 3), "hit_rate": pytest.approx(1 / 3)}


# ------------------------------------------------------------------ folding

def _map():
    return K.KeywordMap({"shoes": (("c_shoes", 1.0),), "tea": (("c_tea", 0.75), ("c_mug", 0.25))},
                        {"shoes": 1.0, "tea": 2.0})


def test_searches_fold_into_decayed_search_intent():
    p = P.ProfileParams(windows_s=(600, 3600), half_life_s=HL, keywords=_map())
    st = P.build([P.EventView(T0, "search", query="Tea"),
                  P.EventView(T0 + HL * 1000, "search", query="shoes"),
                  P.EventView(T0 + HL * 1000, "view", "c_shoes")], p)
    s = P.snapshot(st, p)
    # tea: idf 2 × 0.75, one half-life old; shoes: 1 × 1.0, now
    assert s["top_search_categories"] == ["c_shoes", "c_tea", "c_mug"]
    assert s["top_search_scores"] == pytest.approx([1.0, 0.75, 0.25])
    assert s["search_intent_total"] == pytest.approx(2.0)


def test_without_a_map_or_a_search_there_is_no_intent_and_order_does_not_matter():
    evs = [P.EventView(T0 + i * 1000, "search", query=q) for i, q in enumerate(["tea", "shoes", "tea"])]
    bare = P.ProfileParams(windows_s=(600,), half_life_s=HL)
    assert P.snapshot(P.build(evs, bare), bare)["top_search_categories"] == []
    p = P.ProfileParams(windows_s=(600,), half_life_s=HL, keywords=_map())
    assert P.snapshot(P.build(evs, p), p) == P.snapshot(P.build(evs[::-1], p), p)


def test_a_format_1_state_reads_with_an_empty_search_intent():
    from udfs.core import profile_batch as B
    st = B.UserState()
    fmt2 = B.to_state(st)
    old = (1, fmt2[1][:-2], *fmt2[2:])    # format 1: no search intent, no search keywords
    back = B.from_state(old).profile
    assert back.search == {} and back.keywords == {}


# ------------------------------------------------------------------ user table

def test_user_table_is_checked_and_typed():
    df = pd.DataFrame({"user_id": ["u1", "u2"], "age_band": ["25-34", "60+"], "gender": ["f", None],
                       "registered": ["2025-01-01", "2024-06-30"]})
    got = users.check(df)
    assert list(got.table.columns) == ["user_id", *users.COLUMNS]
    assert got.table["registered_ts"].tolist() == [1735689600000, 1719705600000]
    assert got.table["gender"].tolist() == ["f", ""]
    assert any("60+" in w for w in got.warnings) and any("region" in w for w in got.warnings)
    with pytest.raises(users.TableError, match="duplicated"):
        users.check(pd.DataFrame({"user_id": ["u1", "u1"]}))
    with pytest.raises(users.TableError, match="no 'user_id'"):
        users.check(pd.DataFrame({"id": ["u1"]}))


def test_attributes_reach_the_model_row_and_outlive_an_expired_profile():
    fz = Featurizer((600,))
    attrs = {"age_band": "35-44", "gender": "f", "region": "FR", "registered_ts": T0 - 10 * 86_400_000,
             "membership_tier": "gold"}
    row = fz.row(attrs, AdView("cr", "c1", "b", 1.0, 0.01), RequestView(T0, "mobile"))
    assert (row["age_code"], row["gender_f"], row["gender_m"], row["tier_code"], row["tenure_days"]) == \
        (3.0, 1.0, 0.0, 3.0, 10.0)
    assert row["known_user"] == 0.0 and not has_profile(attrs)
    assert has_profile({**attrs, "last_event_ts": T0})
    assert attributes_only({**attrs, "last_event_ts": T0}) == attrs and attributes_only({"cnt": 1}) is None


# ------------------------------------------------------------------ targeting

def _catalog(**targeting) -> Catalog:
    cat = Catalog()
    cat.put(Advertiser(advertiser_id="a1"))
    cat.put(Campaign(campaign_id="c1", advertiser_id="a1", daily_budget=100.0, bid_type="CPM", bid=1.0,
                     targeting=Targeting(**targeting)))
    cat.put(Creative(creative_id="cr1", ad_id="ad1", campaign_id="c1", advertiser_id="a1",
                     category_id="x", title="t", landing_url="https://x.example", review_status="approved"))
    return cat


@pytest.mark.parametrize("targeting,row,ctx_geo,reason", [
    ({"age_bands": ("25-34",)}, {"age_band": "25-34"}, "DE", None),
    ({"age_bands": ("25-34",)}, {"age_band": "45-54"}, "DE", AGE),
    ({"age_bands": ("25-34",)}, None, "DE", AGE),                       # unknown user: not targeted
    ({"genders": ("f",)}, {"gender": "f", "age_band": "18-24"}, "DE", None),
    ({"genders": ("f",)}, {"gender": "m"}, "DE", GENDER),
    ({"geos": ("FR",)}, {"region": "FR"}, "", None),                    # the account's region
    ({"geos": ("FR",)}, {"region": "FR"}, "DE", GEO),                   # the request's geo wins
    ({"geos": ("FR",)}, {"region": "DE"}, "", GEO),
])
def test_targeting_by_age_gender_and_region_reads_the_user_table_row(targeting, row, ctx_geo, reason):
    sel = eligible(_catalog(**targeting), RequestContext(device="mobile", geo=ctx_geo),
                   UserAttrs.from_mapping(row), T0, UnlimitedBudget())
    if reason is None:
        assert [c.creative_id for c in sel.creatives] == ["cr1"]
    else:
        assert not sel.creatives and sel.excluded[reason] == 1


def test_keyword_targeting_matches_the_users_recent_search_keywords():
    from udfs.core.budget import SpendLedger
    from udfs.core.eligibility_cache import EligibilityCache, StaticCatalogBudget
    from udfs.core.targeting import KEYWORD
    cat = _catalog(keywords=("Running Shoes", "跑步鞋"))
    ctx = RequestContext(device="mobile", geo="DE")
    cases = {("running", "shoes", "tea"): True, ("跑步", "步鞋"): True, ("shoes",): False, (): False}
    cache = EligibilityCache()
    for words, ok in cases.items():
        user = UserAttrs.from_mapping({"top_search_keywords": list(words), "last_event_ts": T0})
        for sel in (eligible(cat, ctx, user, T0, UnlimitedBudget()),
                    cache.select(cat, ctx, user, T0, StaticCatalogBudget(cat, SpendLedger()))):
            assert ([c.creative_id for c in sel.creatives] == ["cr1"]) == ok, words
            assert ok or sel.excluded[KEYWORD] == 1


def test_search_keywords_are_kept_per_distinct_token_with_decay():
    p = P.ProfileParams(windows_s=(600,), half_life_s=HL, top_k=2)
    st = P.build([P.EventView(T0, "search", query="tea tea"), P.EventView(T0 + 1, "search", query="Shoes"),
                  P.EventView(T0 + 2, "search", query="shoes sale"), P.EventView(T0 + 3, "view", "c1")], p)
    assert P.snapshot(st, p)["top_search_keywords"] == ["shoes", "sale"]
