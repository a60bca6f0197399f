"""Budget pacing (udfs/core/pacing.py) over a simulated day."""
from __future__ import annotations

import pytest

from udfs.core.budget import DAY_MS
from udfs.core.pacing import HOUR_MS, Pacer, PacingParams, target_share

pytestmark = pytest.mark.unit

DAY0 = 20_000 * DAY_MS


def simulate(params, demand, budget=100.0, per_minute=100):
    """A day in minutes: ``per_minute`` requests a minute, each costing what makes the
    campaign's unthrottled spend ``demand`` x its budget over the day; the pacer updated
    every minute. Returns the cumulative spend at the end of each hour."""
    pacer = Pacer(params)
    cost = demand * budget / (1440 * per_minute)
    spent, hourly = 0.0, []
    for minute in range(1440):
        now = DAY0 + minute * 60_000
        pacer.update([("cm", budget, spent)], now)
        for r in range(per_minute):
            if spent + cost <= budget and pacer.admits("cm", f"req-{minute}-{r}"):
                spent += cost
        if minute % 60 == 59:
            hourly.append(spent)
    return hourly


def test_target_share_follows_the_curve():
    uniform = PacingParams.of("uniform", 0.02, 0.2, 0.01)
    assert target_share(uniform, DAY0) == 0.0
    assert target_share(uniform, DAY0 + 6 * HOUR_MS) == pytest.approx(0.25)
    assert target_share(uniform, DAY0 + 6 * HOUR_MS + HOUR_MS // 2) == pytest.approx(6.5 / 24)
    shaped = PacingParams.of([0] * 12 + [1] * 12, 0.02, 0.2, 0.01)
    assert target_share(shaped, DAY0 + 12 * HOUR_MS) == 0.0
    assert target_share(shaped, DAY0 + 18 * HOUR_MS) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        PacingParams.of([1] * 23, 0.02, 0.2, 0.01)


@pytest.mark.parametrize("curve", ["uniform", [1] * 8 + [3] * 8 + [2] * 8])
def test_a_campaign_that_could_spend_twice_its_budget_is_spread_over_the_day(curve):
    """Stated tolerance: at the end of every hour the spend is within 3 % of the daily budget of
    the curve's target (the 2 % band plus what one minute's updates let through)."""
    params = PacingParams.of(curve, tolerance=0.02, step=0.2, min_rate=0.01)
    hourly = simulate(params, demand=2.0)
    for h, spent in enumerate(hourly, start=1):
        target = (1.0 if h == 24 else target_share(params, DAY0 + h * HOUR_MS)) * 100.0
        assert abs(spent - target) <= 3.0, (h, spent, target)
    assert hourly[-1] == pytest.approx(100.0, abs=3.0)
    # without pacing the same demand spends the budget by mid-day
    unpaced = simulate(PacingParams.of(curve, tolerance=10.0, step=0.0, min_rate=1.0), demand=2.0)
    assert unpaced[13] >= 99.0


def test_a_campaign_behind_its_curve_is_never_throttled():
    params = PacingParams.of("uniform", 0.02, 0.2, 0.01)
    pacer = Pacer(params)
    pacer.update([("cm", 100.0, 10.0)], DAY0 + 12 * HOUR_MS)     # half the day gone, 10 % spent
    assert pacer.rates["cm"] == 1.0 and all(pacer.admits("cm", f"r{i}") for i in range(100))
    pacer.update([("cm", 100.0, 90.0)], DAY0 + 12 * HOUR_MS)     # far ahead: throttled
    assert pacer.rates["cm"] == pytest.approx(0.8)
    share = sum(pacer.admits("cm", f"r{i}") for i in range(10_000)) / 10_000
    assert share == pytest.approx(0.8, abs=0.02)
    assert pacer.admits("cm", "r1") == pacer.admits("cm", "r1")   # reproducible


@pytest.mark.parametrize("over", ["scoring.pacing.curve=[1, 2]", "scoring.pacing.curve=flat",
                                  "scoring.pacing.min_rate=0", "scoring.pacing.step=1.5"])
def test_a_bad_pacing_config_names_its_key(over):
    from udfs.config.loader import load
    from udfs.config.schema import ConfigError
    with pytest.raises(ConfigError, match="scoring.pacing"):
        load(overrides=[over], environ={})


def test_the_pacer_is_active_only_while_some_campaign_is_throttled():
    from udfs.config.loader import load
    pacer = Pacer(PacingParams.from_config(load(environ={}).scoring.pacing))
    assert not pacer.active
    pacer.update([("cm", 100.0, 90.0)], DAY0 + 12 * HOUR_MS)     # far ahead: throttled
    assert pacer.active
    for _ in range(20):                                          # behind again: released
        pacer.update([("cm", 100.0, 10.0)], DAY0 + 12 * HOUR_MS)
    assert pacer.rates["cm"] == 1.0 and not pacer.active
