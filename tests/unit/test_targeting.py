"""Candidate selection: every eligibility rule in and out, plus the budget view."""
from __future__ import annotations

import pytest

from udfs.core.budget import DAY_MS, BudgetView, CatalogBudget, SpendLedger, UnlimitedBudget
from udfs.core.catalog import Advertiser, Campaign, Catalog, Creative, Schedule, Targeting
from udfs.messages.ad_request import RequestContext
from udfs.core.targeting import (ANONYMOUS, UserAttrs, eligible, hour_of_day)

pytestmark = pytest.mark.unit

T0 = 1764547200000                 # 2025-12-01T00:00:00Z
HOUR = 3_600_000
NOW = T0 + 10 * HOUR + 123         # 10:00 UTC
CTX = RequestContext(device="mobile", geo="DE")
USER = UserAttrs(age_band="25-34", gender="f", top_categories=("cat_1", "cat_2"))


def world(*, targeting=Targeting(), schedule=Schedule(), status="active", adv_status="active",
          review_status="approved", budget=100.0) -> Catalog:
    cat = Catalog()
    cat.put(Advertiser(advertiser_id="a1", status=adv_status))
    cat.put(Campaign(campaign_id="c1", advertiser_id="a1", status=status, daily_budget=budget,
                     bid_type="CPC", bid=0.5, targeting=targeting, schedule=schedule))
    cat.put(Creative(creative_id="cr1", ad_id="ad1", campaign_id="c1", advertiser_id="a1",
                     category_id="cat_1", title="t", landing_url="https://x.example",
                     review_status=review_status))
    return cat


def run(cat, ctx=CTX, user=USER, now=NOW, budget=None):
    return eligible(cat, ctx, user, now, budget or UnlimitedBudget())


def ids(sel):
    return [c.creative_id for c in sel.creatives]


def assert_in(sel):
    assert ids(sel) == ["cr1"] and not sel.excluded


def assert_out(sel, reason):
    assert ids(sel) == [] and dict(sel.excluded) == {reason: 1}


def test_untargeted_campaign_is_eligible_for_anyone():
    assert_in(run(world()))
    assert_in(run(world(), ctx=RequestContext(), user=ANONYMOUS))
    assert_in(run(world(), user=None))


@pytest.mark.parametrize("targeting, reason, ok_ctx, ok_user, bad_ctx, bad_user", [
    (Targeting(geos=("DE", "AT")), "geo", CTX, USER, RequestContext(geo="FR"), USER),
    (Targeting(devices=("mobile", "app")), "device", CTX, USER, RequestContext(device="desktop", geo="DE"), USER),
    (Targeting(age_bands=("25-34",)), "age", CTX, USER, CTX, UserAttrs(age_band="55-64")),
    (Targeting(genders=("f",)), "gender", CTX, USER, CTX, UserAttrs(gender="m")),
    (Targeting(interests=("cat_2", "cat_9")), "interest", CTX, USER, CTX,
     UserAttrs(top_categories=("cat_1", "cat_3"))),
    (Targeting(segments=(2, 5)), "segment", CTX, UserAttrs(segment_id=5), CTX, UserAttrs(segment_id=0)),
])
def test_each_targeting_dimension_includes_and_excludes(targeting, reason, ok_ctx, ok_user, bad_ctx, bad_user):
    cat = world(targeting=targeting)
    assert_in(run(cat, ctx=ok_ctx, user=ok_user))
    assert_out(run(cat, ctx=bad_ctx, user=bad_user), reason)


@pytest.mark.parametrize("targeting, reason", [
    (Targeting(geos=("DE",)), "geo"),
    (Targeting(age_bands=("25-34",)), "age"),
    (Targeting(genders=("f",)), "gender"),
    (Targeting(interests=("cat_1",)), "interest"),
    (Targeting(segments=(0,)), "segment"),
])
def test_unknown_user_attribute_only_matches_untargeted(targeting, reason):
    assert_out(run(world(targeting=targeting), ctx=RequestContext(geo=""), user=ANONYMOUS), reason)


def test_empty_top_categories_do_not_match_interests():
    assert_out(run(world(targeting=Targeting(interests=("cat_1",))),
                   user=UserAttrs(top_categories=())), "interest")


def test_user_geo_used_when_request_has_none():
    cat = world(targeting=Targeting(geos=("AT",)))
    assert_in(run(cat, ctx=RequestContext(geo=""), user=UserAttrs(geo="AT")))
    assert_out(run(cat, ctx=RequestContext(geo="DE"), user=UserAttrs(geo="AT")), "geo")


def test_schedule_hours_are_utc():
    assert hour_of_day(NOW) == 10
    cat = world(schedule=Schedule(hours=(9, 10)))
    assert_in(run(cat))
    assert_out(run(cat, now=T0 + 11 * HOUR), "off_schedule")
    assert_in(run(cat, now=T0 + DAY_MS + 9 * HOUR + 59 * 60_000))   # next day 09:59


def test_date_range_start_inclusive_end_exclusive():
    cat = world(schedule=Schedule(start_ts=NOW, end_ts=NOW + HOUR))
    assert_out(run(cat, now=NOW - 1), "before_start")
    assert_in(run(cat, now=NOW))
    assert_in(run(cat, now=NOW + HOUR - 1))
    assert_out(run(cat, now=NOW + HOUR), "after_end")


@pytest.mark.parametrize("kw, reason", [
    ({"status": "paused"}, "campaign_paused"),
    ({"status": "ended"}, "campaign_ended"),
    ({"adv_status": "suspended"}, "advertiser_inactive"),
])
def test_campaign_and_advertiser_status(kw, reason):
    assert_out(run(world(**kw)), reason)


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_unapproved_creatives_excluded(status):
    assert_out(run(world(review_status=status)), "not_approved")


def test_orphans_and_missing_advertiser():
    cat = world()
    cat.put(Creative(creative_id="cr2", ad_id="ad2", campaign_id="gone", advertiser_id="a1",
                     review_status="approved"))
    cat.put(Creative(creative_id="cr3", ad_id="ad3", campaign_id="c1", advertiser_id="other",
                     review_status="approved"))
    sel = run(cat)
    assert ids(sel) == ["cr1"] and dict(sel.excluded) == {"no_campaign": 2}
    cat.remove("advertiser", "a1")
    assert dict(run(cat).excluded) == {"advertiser_inactive": 2, "no_campaign": 1}


def test_exclusions_counted_per_creative_under_first_reason():
    cat = world(status="paused", review_status="approved")
    cat.put(Creative(creative_id="cr0", ad_id="ad0", campaign_id="c1", advertiser_id="a1"))  # pending
    cat.put(Creative(creative_id="cr9", ad_id="ad9", campaign_id="c1", advertiser_id="a1",
                     review_status="approved"))
    assert dict(run(cat).excluded) == {"not_approved": 1, "campaign_paused": 2}


def test_output_sorted_by_creative_id():
    cat = world()
    for cid in ("cr7", "cr0", "cr5"):
        cat.put(Creative(creative_id=cid, ad_id=cid, campaign_id="c1", advertiser_id="a1",
                         review_status="approved"))
    assert ids(run(cat)) == ["cr0", "cr1", "cr5", "cr7"]


# ------------------------------------------------------------------- budget

def test_budget_exhausted_excludes():
    cat = world(budget=10.0)
    ledger = SpendLedger()
    budget = CatalogBudget(cat, ledger)
    assert isinstance(budget, BudgetView)
    ledger.add("c1", 9.5, NOW - HOUR)
    assert budget.remaining("c1", NOW) == pytest.approx(0.5)
    assert_in(run(cat, budget=budget))
    ledger.add("c1", 0.5, NOW)
    assert_out(run(cat, budget=budget), "budget")
    assert_in(run(cat, budget=budget, now=T0 + DAY_MS + 10 * HOUR))   # new UTC day, fresh budget
    assert budget.remaining("unknown", NOW) == 0.0


def test_zero_budget_campaign_never_eligible():
    assert_out(run(world(budget=0.0), budget=CatalogBudget(world(budget=0.0), SpendLedger())), "budget")


def test_budget_view_called_once_per_campaign_and_only_if_otherwise_eligible():
    calls = []

    class Spy:
        def remaining(self, campaign_id, now_ms):
            calls.append(campaign_id)
            return 1.0

    cat = world()
    cat.put(Creative(creative_id="cr2", ad_id="ad2", campaign_id="c1", advertiser_id="a1",
                     review_status="approved"))
    eligible(cat, CTX, USER, NOW, Spy())
    assert calls == ["c1"]
    calls.clear()
    eligible(world(status="paused"), CTX, USER, NOW, Spy())
    assert calls == []


def test_ledger_keeps_recent_days_only():
    ledger = SpendLedger(keep_days=2)
    ledger.add("c1", 1.0, T0)
    ledger.add("c1", 2.0, T0 + DAY_MS)
    ledger.add("c1", 4.0, T0 + 2 * DAY_MS)                 # day 0 pruned
    assert ledger.spent("c1", T0) == 0.0
    assert ledger.spent("c1", T0 + DAY_MS) == 2.0
    assert ledger.spent("c1", T0 + 2 * DAY_MS + 5) == 4.0
    ledger.add("c1", 8.0, T0)                              # too late: dropped
    assert len(ledger.store) == 2
    ledger.add("c1", 1.0, T0 + DAY_MS)                     # yesterday still counts
    assert ledger.spent("c1", T0 + DAY_MS) == 3.0


def test_user_attrs_from_mapping():
    assert UserAttrs.from_mapping(None) is ANONYMOUS
    u = UserAttrs.from_mapping({"age_band": "", "gender": "m", "top_categories": "cat_1,cat_2"})
    assert u == UserAttrs(gender="m", top_categories=("cat_1", "cat_2"))
    assert UserAttrs.from_mapping({"top_categories": []}).top_categories is None


def test_segment_id_is_read_from_the_profile_and_minus_one_is_unknown():
    assert UserAttrs.from_mapping({"segment_id": 3, "top_categories": ["c"]}).segment_id == 3
    assert UserAttrs.from_mapping({"segment_id": -1, "top_categories": ["c"]}).segment_id is None
    with pytest.raises(Exception, match=r"segments\[0\]"):
        Targeting(segments=(-2,))
