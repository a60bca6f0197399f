"""The simulated day's own parts (scripts/sim/): regret against the oracle, the paired bootstrap,
the simulated clock's schedules, the billable rule of the ledger; the truth matches the site's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scripts.sim import stats, truth
from scripts.sim.clock import EVENT, POLL, RETRAIN, TIMER, Agenda
from scripts.sim.feedback import Feedback, LedgerBudget
from scripts.synth import oracle
from scripts.synth.site import Ad, SiteWorld
from udfs import config
from udfs.core.attributed import CLICK, IMPRESSION, Attributed
from udfs.core.catalog import Advertiser, Campaign, Catalog

pytestmark = pytest.mark.unit

T0 = 1_764_633_600_000       # 2025-12-02T00:00Z
MIN, HOUR = 60_000, 3_600_000


# ------------------------------------------------------------------ regret

def test_regret_on_a_hand_made_answer():
    # CPM bid 2000 is worth 2.0 anywhere; CPC bid 10 at p_click 0.3 / 0.2; CPA bid 100 at 0.1 / 0.05, p_conv 0.2
    v = truth.value_matrix(np.array([0, 1, 2]), np.array([2000.0, 10.0, 100.0]),
                           np.array([[0.5, 0.4], [0.3, 0.2], [0.1, 0.05]]), np.array([0.0, 0.0, 0.2]))
    np.testing.assert_allclose(v, [[2.0, 2.0], [3.0, 2.0], [2.0, 1.0]])
    assert truth.best(v) == pytest.approx(5.0)                     # CPC first, CPM second
    top, got, regret = truth.regret(v, [0, 2], [1, 2])             # CPM first, CPA second: 2 + 1
    assert (top, got, regret) == pytest.approx((5.0, 3.0, 2.0))
    assert truth.regret(v, [1, 0], [1, 2])[2] == pytest.approx(0.0)   # the oracle's own answer
    assert truth.regret(v, [], [])[2] == pytest.approx(5.0)           # an empty answer forgoes all of it


def test_the_oracle_assigns_exactly_where_a_greedy_pick_would_not():
    v = np.array([[5.0, 4.0], [4.9, 1.0]])
    assert truth.best(v) == pytest.approx(8.9)          # greedy (best ad first at position 1) gets 6
    assert truth.best(np.zeros((0, 3))) == 0.0
    assert truth.best(np.array([[1.0, 0.5, 0.2]])) == pytest.approx(1.0)   # one ad, three positions


def _site_world() -> SiteWorld:
    events = pd.DataFrame({"user_id": ["u1"] * 4 + ["u2"],
                           "ts": [T0 - 5 * HOUR, T0 - HOUR, T0 - MIN, T0 + MIN, T0 - HOUR],
                           "type": ["view", "view", "cart", "view", "view"],
                           "category_id": ["c1", "c1", "c2", "c1", "c2"], "brand_id": ["b1", "b2", "b1", "b1", "b2"],
                           "price": [20.0, 40.0, 40.0, 99.0, 10.0]})
    ads = {"a": Ad("c1", "b1", 30.0, 0.4, "CPC"), "b": Ad("c2", "b2", 80.0, -0.2, "CPA"),
           "c": Ad("c9", "b9", 5.0, 0.0, "CPM")}
    return SiteWorld._of(ads, {"u1": 0.05, "u2": -0.1}, events)


@pytest.mark.parametrize("user, page", [("u1", "c1"), ("u1", None), ("u2", "c2"), (None, None), ("nobody", "c9")])
def test_request_truth_is_the_sites_click_model(user, page):
    site = _site_world()
    table = truth.AdTable(site)
    bids = {"a": 0.2, "b": 10.0, "c": 3.0}
    for cid, ad in site.ads.items():
        table.add(cid, ad, f"cmp-{cid}", bids[cid])
    rt = truth.RequestTruth.of(site, user, T0, "app", page)
    values = rt.values(table, np.arange(3), 3)
    for row, cid in enumerate("abc"):
        ad, state = site.ads[cid], site.state(user, T0, site.ads[cid])
        who = type("U", (), {"clickiness": site.clickiness.get(user, 0.0)})() if user else None
        for pos in (1, 2, 3):
            ctx = oracle.Context(device="app", position=pos, hour=0, page_category=page)
            p = oracle.p_click(who, ad, ctx, state)
            q = oracle.p_convert_after_click(who, ad, ctx, state)
            want = {"CPC": bids[cid] * p, "CPA": bids[cid] * p * q, "CPM": bids[cid] / 1000}[ad.bid_type]
            assert values[row, pos - 1] == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------ the paired bootstrap

def test_identical_runs_have_no_lift_and_a_point_interval():
    rng = np.random.default_rng(1)
    clicks, imps = rng.poisson(1, 300).astype(float), rng.poisson(20, 300).astype(float) + 1
    out = stats.lift(clicks, clicks, imps, imps, n_boot=200, seed=3)
    assert out["estimate"] == 0.0 and out["ci"] == [0.0, 0.0] and out["absolute_ci"] == [0.0, 0.0]


def test_a_run_that_doubles_every_unit_lifts_by_one_whatever_the_resample():
    rev = np.random.default_rng(2).gamma(2.0, 1.0, 500)
    out = stats.lift(2 * rev, rev, n_boot=300, seed=0)
    assert out["estimate"] == pytest.approx(1.0) and out["ci"] == pytest.approx([1.0, 1.0])
    assert out["absolute"] == pytest.approx(rev.sum())


def test_the_interval_holds_its_estimate_is_seeded_and_narrows_with_more_units():
    def draw(n, seed):
        rng = np.random.default_rng(seed)
        base = rng.gamma(2.0, 1.0, n)
        return base * rng.uniform(1.0, 1.2, n), base      # the loop earns 0-20 % more, per unit
    a, b = draw(400, 5)
    out = stats.lift(a, b, n_boot=500, seed=9)
    assert out["ci"][0] <= out["estimate"] <= out["ci"][1]
    assert stats.excludes_zero(out["ci"]) and out["ci"][0] > 0
    assert stats.lift(a, b, n_boot=500, seed=9) == out
    wide = stats.lift(*draw(100, 5), n_boot=500, seed=9)
    narrow = stats.lift(*draw(4000, 5), n_boot=500, seed=9)
    assert narrow["ci"][1] - narrow["ci"][0] < wide["ci"][1] - wide["ci"][0]
    assert not stats.excludes_zero([-0.1, 0.2]) and stats.excludes_zero([-0.3, -0.1])


def test_unit_sums_group_requests_by_user():
    a, b = stats.unit_sums(np.array(["u2", "u1", "u2", "r9"]), [1, 2, 3, 4], [10, 20, 30, 40])
    assert a.tolist() == [4.0, 2.0, 4.0] and b.tolist() == [40.0, 20.0, 40.0]   # r9, u1, u2


# ------------------------------------------------------------------ the simulated clock

def test_stats_polls_and_retraining_fall_on_the_simulated_clock():
    ag = Agenda()
    ag.every(POLL, T0 + 5 * MIN, 5 * MIN, T0 + 24 * HOUR)
    ag.every(RETRAIN, T0 + 6 * HOUR, 6 * HOUR, T0 + 24 * HOUR - 1)
    ag.at(T0 + 6 * HOUR, EVENT, "click")
    seen = list(ag.due(T0 + 6 * HOUR))
    assert [t for t, k, _ in seen if k == POLL] == [T0 + i * 5 * MIN for i in range(1, 73)]
    # at one instant: the event first, then the read, then the retraining
    assert [k for t, k, _ in seen if t == T0 + 6 * HOUR] == [EVENT, POLL, RETRAIN]
    rest = list(ag.due(T0 + 48 * HOUR))
    assert [t for t, k, _ in rest if k == RETRAIN] == [T0 + 12 * HOUR, T0 + 18 * HOUR]   # none at the day's end
    assert [t for t, k, _ in rest if k == POLL][-1] == T0 + 24 * HOUR and len(ag) == 0


def test_work_scheduled_while_advancing_is_taken_when_due():
    ag = Agenda()
    ag.at(T0 + 10, TIMER, "a")
    out = []
    for t, kind, p in ag.due(T0 + 100):
        out.append(p)
        if p == "a":
            ag.at(T0 + 50, EVENT, "b")      # due by now: taken in this pass
            ag.at(T0 + 500, EVENT, "c")     # not yet
    assert out == ["a", "b"] and ag.next_ms() == T0 + 500
    with pytest.raises(ValueError):
        ag.every(POLL, T0, 0, T0 + 1)


# ------------------------------------------------------------------ the ledger's billable rule

def test_a_charge_is_billable_up_to_the_daily_budget_and_the_campaign_then_counts_as_spent_out():
    cfg = config.load("test")
    cat = Catalog()
    cat.put(Advertiser(advertiser_id="A"))
    cat.put(Campaign(campaign_id="k", advertiser_id="A", daily_budget=1.0, bid_type="CPC", bid=0.4))
    got = []
    fb = Feedback(cfg, Agenda(), cat, {}, lambda a, billable: got.append(billable))
    ledger = LedgerBudget(fb, cat)
    for i in range(4):
        fb._count(Attributed(CLICK, f"ck{i}", T0 + i, "k", "x", "CPC", 0.4))
    fb._count(Attributed(IMPRESSION, "im9", T0 + 9, "k", "x", "CPC", 0.0))
    assert got == pytest.approx([0.4, 0.4, 0.2, 0.0, 0.0])
    assert ledger.remaining("k", T0 + 10) == pytest.approx(-0.6) and ("k", T0 // 86_400_000) in fb.exhausted
    assert ledger.remaining("k", T0 + 86_400_000) == pytest.approx(1.0)      # a new day, a new budget
    assert fb.refresh()[1]["k"]["spend_today"] == pytest.approx(1.6)          # the store's: all of it charged
