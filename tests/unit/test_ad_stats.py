"""Live ad statistics (udfs/core/ad_stats.py) and the scorer's view of them (udfs/core/live_stats.py)."""
from __future__ import annotations

import pytest

from udfs.core import ad_stats as A
from udfs.core.attributed import CLICK, CONVERSION, IMPRESSION, Attributed
from udfs.core.budget import DAY_MS, utc_day
from udfs.core.catalog import Campaign, Catalog
from udfs.core.live_stats import LiveStats, SpendBudget

pytestmark = pytest.mark.unit

P = A.StatsParams(windows_s=(3600, 86400), buckets=60, prior_ctr=0.01, prior_cvr=0.02, strength=100.0)
T = 20 * DAY_MS + 12 * 3_600_000          # noon, UTC


def ev(kind, eid, ts, creative="cr1", charge=0.0, bid_type="CPC", value=0.0):
    return Attributed(kind, eid, ts, "cm1", creative, bid_type, charge, value)


def fold(events):
    st = A.CampaignStats()
    for e in events:
        A.apply(st, e, P)
    return st


def test_counts_spend_and_windows_with_bucket_edges():
    st = fold([ev(IMPRESSION, "i1", T - 2 * 3_600_000), ev(IMPRESSION, "i2", T - 30 * 60_000),
               ev(CLICK, "k2", T - 29 * 60_000, charge=0.4), ev(IMPRESSION, "i3", T)])
    camp, crs = A.snapshot(st, P)
    assert camp["impressions_1h"] == 2 and camp["impressions_24h"] == 3 and camp["impressions_total"] == 3
    assert camp["clicks_1h"] == 1 and camp["spend_1h"] == pytest.approx(0.4)
    assert camp["spend_today"] == pytest.approx(0.4) and camp["spend_day"] == utc_day(T)
    assert crs["cr1"]["impressions_1h"] == 2 and camp["latest_ts"] == T
    # a bucket is one minute of the hour; the window is the current bucket and the 59 before it,
    # so it reaches back between 59 and 60 min: 58.5 min old is in, 60.5 min old is out
    st = fold([ev(IMPRESSION, "a", T - 58 * 60_000 - 30_000), ev(IMPRESSION, "b", T - 60 * 60_000 - 30_000),
               ev(IMPRESSION, "c", T)])
    assert A.snapshot(st, P)[0]["impressions_1h"] == 2


def test_old_events_count_in_totals_only_and_the_day_rolls_over_at_midnight():
    st = fold([ev(IMPRESSION, "now", T), ev(IMPRESSION, "old", T - 2 * DAY_MS)])
    camp, _ = A.snapshot(st, P)
    assert st.stale == 1 and camp["impressions_24h"] == 1 and camp["impressions_total"] == 2
    midnight = (utc_day(T) + 1) * DAY_MS
    st = fold([ev(CLICK, "k1", midnight - 1, charge=1.0), ev(CLICK, "k2", midnight, charge=2.0)])
    camp, _ = A.snapshot(st, P)
    assert camp["spend_day"] == utc_day(midnight) and camp["spend_today"] == 2.0
    assert camp["spend_total"] == 3.0


def test_charges_by_bid_type_and_observed_cpa():
    st = fold([ev(IMPRESSION, "i1", T, charge=0.003, bid_type="CPM"),
               ev(CONVERSION, "v1", T, creative="cr2", charge=5.0, bid_type="CPA", value=20.0),
               ev(CONVERSION, "v2", T, creative="cr2", charge=7.0, bid_type="CPA", value=30.0),
               ev(CLICK, "k1", T, creative="cr2", charge=0.0, bid_type="CPA")])
    camp, crs = A.snapshot(st, P, all_creatives=True)
    assert camp["spend_total"] == pytest.approx(12.003)
    assert camp["cpa"] == pytest.approx(6.0) and camp["cpa_conversions"] == 2
    assert crs["cr1"]["cpa_conversions"] == 0 and crs["cr1"]["cpa"] == 0.0


def test_smoothed_ctr_starts_at_the_prior_and_follows_the_data():
    st = fold([ev(IMPRESSION, f"i{i}", T) for i in range(3)] + [ev(CLICK, "k", T)])
    _, crs = A.snapshot(st, P)
    assert crs["cr1"]["ctr_prior"] == pytest.approx((1 + 100 * 0.01) / (3 + 100))   # not 1/3
    assert A.smoothed_ctr(0, 0, 0.01, 100.0) == 0.01
    assert A.smoothed_ctr(500, 1000, 0.01, 100.0) == pytest.approx(501 / 1100)


def test_snapshot_marks_creatives_clean():
    st = fold([ev(IMPRESSION, "i1", T), ev(IMPRESSION, "i2", T, creative="cr2")])
    assert set(A.snapshot(st, P)[1]) == {"cr1", "cr2"}
    assert A.snapshot(st, P)[1] == {}
    A.apply(st, ev(IMPRESSION, "i3", T, creative="cr2"), P)
    assert set(A.snapshot(st, P)[1]) == {"cr2"}


def test_live_stats_versions_and_the_spend_budget():
    cat = Catalog()
    cat.put(Campaign(campaign_id="cm1", advertiser_id="a", daily_budget=10.0, bid_type="CPC", bid=0.5))
    stats = LiveStats()
    clock = [T]
    budget = SpendBudget(cat, stats, lambda: clock[0])
    token = budget.cache_token(T)
    stats.update({"cr1": {"ctr_prior": 0.02}},
                 {"cm1": {"cpa": 6.0, "cpa_conversions": 2, "spend_day": utc_day(T), "spend_today": 9.5}})
    assert stats.version == 1 and stats.ctr_prior("cr1") == 0.02 and stats.cpa("cm1") == (6.0, 2)
    assert budget.remaining("cm1", T) == pytest.approx(0.5) and budget.cache_token(T) != token
    clock[0] = T + DAY_MS
    assert budget.remaining("cm1", T) == 10.0                   # yesterday's spend is not today's
    clock[0] = T
    assert budget.remaining("nope", T) == 0.0
    v, sv = stats.version, stats.spend_version
    stats.update({"cr1": {"ctr_prior": 0.02}},
                 {"cm1": {"cpa": 6.0, "cpa_conversions": 2, "spend_day": utc_day(T), "spend_today": 10.5}})
    assert stats.version == v and stats.spend_version == sv + 1 and budget.remaining("cm1", T) < 0
    stats.update({}, {"cm1": {"cpa": 0.0, "cpa_conversions": 0}})
    assert stats.cpa("cm1") == (None, 0) and stats.ctr_prior("cr1") is None
