"""``adstream simulate day`` end to end on a tiny world (a few hundred users, two simulated hours):
the report's keys and the invariants every run must keep, whatever the figures."""
from __future__ import annotations

import json

import pytest

from scripts.cli import main

pytestmark = pytest.mark.unit

# Small and quick: retraining and the launch inside the two hours, budgets that bind at once,
# one candidate model kind and few rounds (the first model's training is most of the time).
SETS = ["simulation.retrain_every_h=1", "simulation.new_ads_hour=1", "simulation.stats_poll_s=120",
        "simulation.bootstrap=200", "simulation.budget_scale=0.0005", "simulation.discovery_impressions=3",
        "simulation.train_rounds=30", "model.candidates=[lr]"]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    d = tmp_path_factory.mktemp("day")
    argv = ["--env", "test"] + [x for s in SETS for x in ("--set", s)] + [
        "simulate", "day", "--seed", "3", "--hours", "2", "--users", "300", "--requests-per-hour", "400",
        "--out", str(d / "day.json"), "--plots", str(d / "plots"), "--work-dir", str(d / "work")]
    assert main(argv) == 0
    return json.loads((d / "day.json").read_text()), d


def test_the_report_has_the_issues_keys(day):
    rep, d = day
    for run in ("loop", "frozen"):
        for key in ("ctr", "cvr", "revenue", "budget", "new_ads", "regret_per_hour", "ctr_per_hour"):
            assert key in rep[run], (run, key)
    for key in ("lift_ctr", "lift_revenue"):
        assert set(rep[key]) >= {"estimate", "ci", "absolute", "absolute_ci", "confidence"}
    assert len(rep["regret_per_hour"]) == rep["hours"] == 2
    assert sorted(p.name for p in (d / "plots").iterdir()) == [
        "budget_use.png", "ctr_per_hour.png", "new_ads.png", "regret_per_hour.png", "revenue_per_hour.png"]
    assert "one process" in rep["design"]


def test_both_runs_answered_the_same_requests_and_the_feedback_counted_them_cleanly(day):
    rep, _ = day
    assert rep["paired"]["same_requests"]
    assert rep["loop"]["requests"] == rep["frozen"]["requests"] == rep["requests"] > 100
    for run in ("loop", "frozen"):
        r = rep[run]
        assert r["feedback_rejected"] == {}        # no faults are simulated: nothing is dead-lettered
        assert 0 < r["clicks"] < r["impressions"] and r["conversions"] <= r["clicks"]
        # the site's own expected clicks and the platform's attributed clicks agree to the noise
        assert abs(r["clicks"] - r["site_expected_clicks"]) < 5 * r["site_expected_clicks"] ** 0.5 + 3


def test_intervals_hold_their_estimates(day):
    rep, _ = day
    for key in ("lift_ctr", "lift_revenue"):
        x = rep[key]
        assert x["ci"][0] <= x["estimate"] <= x["ci"][1]
        assert x["absolute_ci"][0] <= x["absolute"] <= x["absolute_ci"][1]


def test_regret_is_never_negative(day):
    rep, _ = day
    for run in ("loop", "frozen"):
        r = rep[run]
        assert r["regret"] >= -1e-9 and r["oracle_value"] >= r["expected_value"] - 1e-9
        assert all(x is None or x >= -1e-9 for x in r["regret_per_hour"])
        assert r["served_outside_candidates"] == 0     # the oracle saw what the scorer ranked


def test_budgets_stop_the_loop_at_the_next_read_and_nothing_beyond_a_budget_is_billed(day):
    rep, _ = day
    loop, frozen = rep["loop"]["budget"], rep["frozen"]["budget"]
    assert loop["stopped_by_a_read"] > 0                      # budgets bind in this world
    assert loop["impressions_after_stop"] == 0                # the documented bound: nothing shown after the read
    for b in (loop, frozen):
        assert b["billable"] <= b["charged"] + 1e-9 and b["billable"] <= b["daily_budgets"] + 1e-9
        assert rep["loop" if b is loop else "frozen"]["revenue"] == pytest.approx(b["billable"], abs=1e-3)
    assert frozen["stopped_by_a_read"] == 0                   # frozen never learns of today's spend


def test_the_loop_retrained_and_the_new_ads_were_launched(day):
    rep, _ = day
    assert [r["status"] for r in rep["loop"]["retrains"]] and rep["frozen"]["retrains"] == []
    assert all(r["status"] in ("skipped", "promoted", "refused") for r in rep["loop"]["retrains"])
    ads = rep["loop"]["new_ads"]["creatives"]
    assert len(ads) == 4 and rep["loop"]["new_ads"]["after_impressions"] == 3
    for ad in ads.values():      # the plot's series: quarter hours, never falling, to the day's count
        c = ad["cumulative_by_quarter"]
        assert len(c) == 4 * rep["hours"] and c == sorted(c) and c[-1] == ad["impressions"]
        assert c[3] == 0                                   # nothing before the launch at 01:00
    assert rep["frozen"]["explored_requests"] == 0
