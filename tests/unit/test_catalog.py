"""Ad catalogue (JSON document, change records, validation) and creative review."""
from __future__ import annotations

import copy
import json

import pytest

from udfs.core.catalog import (Advertiser, Campaign, Catalog, CatalogChange, Creative, Schedule,
                          Targeting, entity_from_dict, entity_to_dict)
from udfs.config import ReviewPolicy
from udfs.errors import AdstreamError, CatalogError
from udfs.core.review import review, review_pending, reviewed

pytestmark = pytest.mark.unit

DOC = {
    "advertisers": [{"advertiser_id": "adv1", "name": "Acme", "status": "active"}],
    "campaigns": [{
        "campaign_id": "c1", "advertiser_id": "adv1", "status": "active",
        "daily_budget": 100, "bid_type": "oCPA", "bid": 12.5, "target_cpa": 10.0,
        "targeting": {"geos": ["DE", "FR"], "devices": ["mobile"], "interests": ["cat_3"]},
        "schedule": {"hours": [8, 9, 10], "start_ts": 1764547200000, "end_ts": 1767225600000},
    }],
    "creatives": [{
        "creative_id": "cr1", "ad_id": "ad1", "campaign_id": "c1", "advertiser_id": "adv1",
        "item_id": "i42", "category_id": "cat_3", "brand_id": "b7", "price": 49.9, "title": "Trail shoes -20%",
        "landing_url": "https://shop.example/shoes", "review_status": "approved",
    }],
}


def doc(**patch):
    d = copy.deepcopy(DOC)
    for path, value in patch.items():
        section, field = path.split("__", 1)
        target = d[section][0]
        *parents, last = field.split("__")
        for p in parents:
            target = target[p]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return d


def catalog_error(fn, *args) -> CatalogError:
    with pytest.raises(CatalogError) as ei:
        fn(*args)
    return ei.value


# ------------------------------------------------------------------ document

def test_from_json_builds_typed_entities():
    cat = Catalog.from_json(DOC)
    c = cat.campaign("c1")
    assert c.daily_budget == 100.0 and isinstance(c.daily_budget, float)
    assert c.targeting == Targeting(geos=("DE", "FR"), devices=("mobile",), interests=("cat_3",))
    assert c.schedule == Schedule(hours=(8, 9, 10), start_ts=1764547200000, end_ts=1767225600000)
    assert cat.creative("cr1").price == 49.9
    assert cat.advertiser("adv1").name == "Acme"
    assert [x.creative_id for x in cat.creatives_of("c1")] == ["cr1"]
    assert cat.campaign("nope") is None and len(cat) == 3


def test_to_json_round_trips():
    cat = Catalog.from_json(DOC)
    again = Catalog.from_json(json.loads(json.dumps(cat.to_json())))
    assert again.to_json() == cat.to_json()
    assert list(again) == list(cat)


def test_defaults_for_optional_fields():
    d = {"advertisers": [{"advertiser_id": "a"}],
         "campaigns": [{"campaign_id": "c", "advertiser_id": "a", "daily_budget": 1,
                        "bid_type": "CPM", "bid": 2}],
         "creatives": [{"creative_id": "x", "ad_id": "x", "campaign_id": "c", "advertiser_id": "a"}]}
    cat = Catalog.from_json(d)
    assert cat.campaign("c").targeting == Targeting() and cat.campaign("c").schedule == Schedule()
    assert cat.creative("x").review_status == "pending" and cat.creative("x").title == ""


def test_load_from_path(tmp_path):
    p = tmp_path / "catalog.json"
    p.write_text(json.dumps(DOC))
    assert Catalog.load(p).campaign("c1").bid == 12.5
    assert "not found" in str(catalog_error(Catalog.load, tmp_path / "missing.json"))
    p.write_text("{nope")
    assert catalog_error(Catalog.load, p).field == "<file>"


@pytest.mark.parametrize("patch, entity, eid, field", [
    ({"campaigns__bid": 0}, "campaign", "c1", "bid"),
    ({"campaigns__bid": "ten"}, "campaign", "c1", "bid"),
    ({"campaigns__bid": True}, "campaign", "c1", "bid"),
    ({"campaigns__daily_budget": -1}, "campaign", "c1", "daily_budget"),
    ({"campaigns__daily_budget": ...}, "campaign", "c1", "daily_budget"),
    ({"campaigns__bid_type": "CPV"}, "campaign", "c1", "bid_type"),
    ({"campaigns__status": "live"}, "campaign", "c1", "status"),
    ({"campaigns__target_cpa": ...}, "campaign", "c1", "target_cpa"),
    ({"campaigns__target_cpa": -2}, "campaign", "c1", "target_cpa"),
    ({"campaigns__colour": "red"}, "campaign", "c1", "colour"),
    ({"campaigns__targeting__devices": ["mobile", "tv"]}, "campaign", "c1", "targeting.devices[1]"),
    ({"campaigns__targeting__geos": "DE"}, "campaign", "c1", "targeting.geos"),
    ({"campaigns__targeting__ages": ["18-24"]}, "campaign", "c1", "targeting.ages"),
    ({"campaigns__schedule__hours": [8, 24]}, "campaign", "c1", "schedule.hours[1]"),
    ({"campaigns__schedule__end_ts": 1}, "campaign", "c1", "schedule.end_ts"),
    ({"campaigns__campaign_id": ""}, "campaign", None, "campaign_id"),
    ({"creatives__ad_id": ...}, "creative", "cr1", "ad_id"),
    ({"creatives__price": -1}, "creative", "cr1", "price"),
    ({"creatives__review_status": "ok"}, "creative", "cr1", "review_status"),
    ({"creatives__title": 5}, "creative", "cr1", "title"),
    ({"advertisers__status": "gone"}, "advertiser", "adv1", "status"),
])
def test_validation_errors_name_entity_and_field(patch, entity, eid, field):
    err = catalog_error(Catalog.from_json, doc(**patch))
    assert isinstance(err, AdstreamError)
    assert (err.entity, err.field) == (entity, field)
    if eid is not None:
        assert err.entity_id == eid and repr(eid) in str(err)
    assert f"'{field}'" in str(err)


def test_reference_and_duplicate_errors():
    d = doc(campaigns__advertiser_id="ghost")
    err = catalog_error(Catalog.from_json, d)
    assert (err.entity, err.entity_id, err.field) == ("campaign", "c1", "advertiser_id")
    err = catalog_error(Catalog.from_json, doc(creatives__campaign_id="c9"))
    assert (err.entity, err.field) == ("creative", "campaign_id")
    d = copy.deepcopy(DOC)
    d["advertisers"].append({"advertiser_id": "adv2"})
    d["creatives"][0]["advertiser_id"] = "adv2"
    err = catalog_error(Catalog.from_json, d)
    assert (err.entity, err.field) == ("creative", "advertiser_id")
    d = copy.deepcopy(DOC)
    d["creatives"].append(dict(d["creatives"][0]))
    err = catalog_error(Catalog.from_json, d)
    assert (err.entity_id, err.field, err.reason) == ("cr1", "creative_id", "duplicate id")
    assert catalog_error(Catalog.from_json, {**DOC, "ads": []}).field == "ads"
    assert catalog_error(Catalog.from_json, {"campaigns": {}}).field == "campaigns"


def test_constructing_in_code_is_validated_too():
    with pytest.raises(CatalogError, match="'bid'"):
        Campaign(campaign_id="c", advertiser_id="a", daily_budget=1, bid_type="CPC", bid=-1)
    with pytest.raises(CatalogError, match="devices"):
        Targeting(devices=("toaster",))
    assert Targeting(geos=["DE"]).geos == ("DE",)   # lists normalised to tuples



def test_errors_of_a_nested_part_name_the_entity_its_id_and_the_path():
    # the part's rules run under the entity that holds it, decoded or built in code
    bad = {**DOC["campaigns"][0], "targeting": {"geos": ["DE", ""]}}
    err = catalog_error(entity_from_dict, "campaign", bad)
    assert (err.entity, err.entity_id, err.field) == ("campaign", "c1", "targeting.geos[1]")
    err = catalog_error(entity_from_dict, "campaign", {**DOC["campaigns"][0], "schedule": {"hourz": []}})
    assert err.field == "schedule.hourz" and "known: hours, start_ts, end_ts" in err.reason
    with pytest.raises(CatalogError) as ei:
        Schedule(start_ts=5, end_ts=5)
    assert (ei.value.entity, ei.value.field) == ("schedule", "end_ts")
    with pytest.raises(CatalogError) as ei:
        Creative(creative_id="x", ad_id=" ", campaign_id="c", advertiser_id="a")
    assert (ei.value.entity, ei.value.entity_id, ei.value.field) == ("creative", "x", "ad_id")

# ------------------------------------------------------------ change records

def test_apply_upsert_inserts_and_replaces():
    cat = Catalog.from_json(DOC)
    v0 = cat.version
    new = {"campaign_id": "c2", "advertiser_id": "adv1", "daily_budget": 5, "bid_type": "CPC", "bid": 0.3}
    got = cat.apply(CatalogChange.parse("campaign:c2", json.dumps(new).encode()))
    assert isinstance(got, Campaign) and cat.campaign("c2").bid == 0.3
    cat.apply_record(b"campaign:c2", {**new, "bid": 0.4, "status": "paused"})
    assert cat.campaign("c2").bid == 0.4 and cat.campaign("c2").status == "paused"
    assert cat.version == v0 + 2


def test_apply_fills_id_from_key():
    cat = Catalog()
    cat.apply_record("advertiser:a9", {"name": "Nine"})
    assert cat.advertiser("a9") == Advertiser(advertiser_id="a9", name="Nine")


@pytest.mark.parametrize("tombstone", [None, b"null", "null"])
def test_apply_delete_and_tombstone(tombstone):
    cat = Catalog.from_json(DOC)
    assert cat.apply(CatalogChange.parse(b"creative:cr1", tombstone)) is None
    assert cat.creative("cr1") is None and cat.creatives_of("c1") == []
    assert cat.campaign_ids_with_creatives() == []
    cat.apply_record("creative:unknown", None)        # deleting what is not there is fine
    cat.apply(CatalogChange.delete("campaign", "c1"))
    assert cat.campaign("c1") is None and cat.advertiser("adv1") is not None


def test_apply_moves_creative_between_campaigns():
    cat = Catalog.from_json(DOC)
    cat.apply_record("campaign:c2", {"advertiser_id": "adv1", "daily_budget": 5, "bid_type": "CPM", "bid": 1})
    cat.apply_record("creative:cr1", {**DOC["creatives"][0], "campaign_id": "c2"})
    assert cat.creatives_of("c1") == [] and [c.id for c in cat.creatives_of("c2")] == ["cr1"]


def test_apply_allows_dangling_references():
    cat = Catalog()
    cat.apply_record("creative:x", {"ad_id": "x", "campaign_id": "later", "advertiser_id": "a"})
    assert cat.creatives_of("later")[0].creative_id == "x"


@pytest.mark.parametrize("key, value, field", [
    ("campaign", "{}", "key"),
    ("budget:c1", "{}", "key"),
    ("campaign:", "{}", "key"),
    ("campaign:c1", "{bad json", "<value>"),
    ("campaign:c1", "[1, 2]", "<value>"),
    ("campaign:c1", json.dumps({"campaign_id": "c2"}), "campaign_id"),
])
def test_bad_change_records(key, value, field):
    assert catalog_error(CatalogChange.parse, key, value).field == field


def test_invalid_record_leaves_catalog_unchanged():
    cat = Catalog.from_json(DOC)
    before = cat.to_json()
    bad = {**DOC["campaigns"][0], "bid": -3}
    err = catalog_error(cat.apply_record, "campaign:c1", bad)
    assert (err.entity, err.entity_id, err.field) == ("campaign", "c1", "bid")
    assert cat.to_json() == before


def test_change_encode_parse_round_trip():
    cat = Catalog.from_json(DOC)
    for entity in cat:
        key, value = CatalogChange.upsert(entity).encode()
        assert key == f"{entity.ENTITY}:{entity.id}".encode()
        assert entity_from_dict(entity.ENTITY, CatalogChange.parse(key, value).value) == entity
    assert CatalogChange.delete("creative", "cr1").encode() == (b"creative:cr1", None)
    assert entity_to_dict(cat.campaign("c1"))["targeting"]["geos"] == ["DE", "FR"]


# -------------------------------------------------------------------- review

POLICY = ReviewPolicy(title_min_len=5, title_max_len=30, blocked_terms=("casino", "miracle cure"))


def creative(**kw) -> Creative:
    base = dict(creative_id="cr", ad_id="ad", campaign_id="c", advertiser_id="a", category_id="cat_1",
                title="Warm winter coats", landing_url="https://shop.example/coats")
    return Creative(**{**base, **kw})


def test_review_approves_a_clean_creative():
    r = review(creative(), POLICY)
    assert r.approved and r.reason is None


@pytest.mark.parametrize("kw, reason", [
    ({"title": ""}, "missing title"),
    ({"title": "   "}, "missing title"),
    ({"landing_url": ""}, "missing landing_url"),
    ({"category_id": None}, "missing category_id"),
    ({"landing_url": "http://shop.example/coats"}, "https"),
    ({"landing_url": "https:///nohost"}, "https"),
    ({"landing_url": "shop.example/coats"}, "https"),
    ({"title": "Coat"}, "title length 4 outside [5, 30]"),
    ({"title": "x" * 31}, "title length 31 outside [5, 30]"),
])
def test_review_rejects_each_rule(kw, reason):
    r = review(creative(**kw), POLICY)
    assert r.status == "rejected" and reason in r.reason


@pytest.mark.parametrize("title, term", [
    ("Casino night tonight", "casino"),
    ("Big CASINO bonus", "casino"),
    ("Try our casino!", "casino"),
    ("A Miracle   Cure for all", "miracle cure"),
    ("Casinos of the world", None),          # whole word only
    ("Online-casino deals", "casino"),       # punctuation is a word boundary
    ("miracle curate", None),
])
def test_review_blocked_terms_whole_word_case_insensitive(title, term):
    r = review(creative(title=title), POLICY)
    if term is None:
        assert r.approved, r.reason
    else:
        assert r.status == "rejected" and r.reason == f"blocked term {term!r} in title"


def test_review_blocked_term_in_landing_url():
    r = review(creative(landing_url="https://casino.example/x"), POLICY)
    assert r.reason == "blocked term 'casino' in landing_url"


def test_review_pending_only_touches_pending():
    cat = Catalog.from_json(DOC)
    cat.put(creative(creative_id="p1", campaign_id="c1", advertiser_id="adv1", review_status="pending"))
    cat.put(creative(creative_id="p2", campaign_id="c1", advertiser_id="adv1", title="Casino", review_status="pending"))
    cat.put(creative(creative_id="h1", campaign_id="c1", advertiser_id="adv1", title="x", review_status="approved"))
    changed = review_pending(cat, POLICY)
    assert [c.creative_id for c in changed] == ["p1", "p2"]
    assert cat.creative("p1").review_status == "approved"
    assert cat.creative("p2").review_status == "rejected" and "casino" in cat.creative("p2").review_reason
    assert cat.creative("h1").review_status == "approved"      # a human decision stands
    assert reviewed(creative(title="no"), POLICY).review_reason.startswith("title length")
