"""Frequency caps: per user x campaign and per user x creative sliding windows."""
from __future__ import annotations

import pytest

from udfs.core.caps import FrequencyCaps, state_key
from udfs.core.catalog import Creative
from udfs.config import CapRule, load

pytestmark = pytest.mark.unit

T0 = 1764547200000
MIN = 60_000
HOUR = 60 * MIN


def cr(creative_id="x1", campaign_id="c1") -> Creative:
    return Creative(creative_id=creative_id, ad_id=creative_id, campaign_id=campaign_id,
                    advertiser_id="a1", review_status="approved")


CAPS = FrequencyCaps(campaign_caps=(CapRule(3600, 5), CapRule(86400, 20)),
                     creative_caps=(CapRule(3600, 3),))


def show(state, n, creative, start, step=MIN, user="u1", caps=CAPS):
    for i in range(n):
        assert caps.allowed(state, user, creative, start + i * step), f"impression {i} refused"
        caps.record(state, user, creative, start + i * step)


def test_creative_cap_reached_within_window_then_allowed_after():
    state: dict = {}
    show(state, 3, cr(), T0)                                   # at T0, +1, +2 min
    assert not CAPS.allowed(state, "u1", cr(), T0 + 30 * MIN)
    assert CAPS.blocking(state, "u1", cr(), T0 + 30 * MIN) == "creative 3/3600s"
    assert not CAPS.allowed(state, "u1", cr(), T0 + HOUR - 1)  # all 3 still in (now-1h, now]
    assert CAPS.allowed(state, "u1", cr(), T0 + HOUR)          # the T0 one has left the window


def test_window_boundary_is_exclusive_of_the_old_edge():
    caps = FrequencyCaps(creative_caps=(CapRule(3600, 1),))
    state: dict = {}
    caps.record(state, "u1", cr(), T0)
    assert not caps.allowed(state, "u1", cr(), T0 + HOUR - 1)
    assert caps.allowed(state, "u1", cr(), T0 + HOUR)


def test_creative_cap_is_per_creative_campaign_cap_spans_creatives():
    state: dict = {}
    show(state, 3, cr("x1"), T0)
    assert not CAPS.allowed(state, "u1", cr("x1"), T0 + 10 * MIN)
    show(state, 2, cr("x2"), T0 + 10 * MIN)                    # same campaign, other creative
    # campaign now has 5 impressions in the hour: every creative of c1 is capped
    assert CAPS.blocking(state, "u1", cr("x3"), T0 + 20 * MIN) == "campaign 5/3600s"
    assert CAPS.allowed(state, "u1", cr("y1", campaign_id="c2"), T0 + 20 * MIN)
    assert CAPS.allowed(state, "u2", cr("x1"), T0 + 20 * MIN)  # other user


def test_daily_campaign_cap():
    state: dict = {}
    caps = FrequencyCaps(campaign_caps=(CapRule(3600, 5), CapRule(86400, 20)))
    # 4 an hour over 5 hours = 20 for the day; hourly cap never hit
    for h in range(5):
        show(state, 4, cr(f"x{h}"), T0 + h * HOUR, caps=caps)
    assert caps.blocking(state, "u1", cr("x9"), T0 + 5 * HOUR + 1) == "campaign 20/86400s"
    assert caps.allowed(state, "u1", cr("x9"), T0 + 24 * HOUR + 1)


def test_anonymous_user_never_capped():
    state: dict = {}
    for i in range(10):
        assert CAPS.allowed(state, None, cr(), T0 + i)
        CAPS.record(state, None, cr(), T0 + i)
    assert state == {}


def test_no_rules_means_no_limit_and_no_state():
    caps = FrequencyCaps()
    state: dict = {}
    show(state, 50, cr(), T0, step=1, caps=caps)
    assert state == {}


def test_entries_pruned_and_bounded():
    state: dict = {}
    for i in range(100):                                   # record ignores allowed(): bounded anyway
        CAPS.record(state, "u1", cr(), T0 + i * MIN)
    assert len(state[state_key("creative", "u1", "x1")]) == 3
    assert len(state[state_key("campaign", "u1", "c1")]) == 20
    assert state[state_key("creative", "u1", "x1")] == [T0 + 97 * MIN, T0 + 98 * MIN, T0 + 99 * MIN]
    CAPS.record(state, "u1", cr("x2"), T0 + 100 * MIN)
    removed = CAPS.prune(state, T0 + 99 * MIN + HOUR)     # creative x1 expired, x2 and campaign remain
    assert removed == 1 and state_key("creative", "u1", "x1") not in state
    assert CAPS.prune(state, T0 + 3 * 86400_000) == 2 and state == {}


def test_state_values_are_replaced_not_mutated():
    class Recording(dict):
        writes = 0

        def __setitem__(self, k, v):
            Recording.writes += 1
            super().__setitem__(k, v)

    state = Recording()
    CAPS.record(state, "u1", cr(), T0)
    before = state[state_key("creative", "u1", "x1")]
    CAPS.record(state, "u1", cr(), T0 + 1)
    assert before == [T0]                                   # the old list object is untouched
    assert Recording.writes == 4


def test_out_of_order_records_kept_sorted():
    state: dict = {}
    caps = FrequencyCaps(creative_caps=(CapRule(3600, 3),))
    for t in (T0 + 5, T0 + 1, T0 + 3):
        caps.record(state, "u1", cr(), t)
    assert state[state_key("creative", "u1", "x1")] == [T0 + 1, T0 + 3, T0 + 5]


def test_filter_and_from_config():
    caps = FrequencyCaps.from_config(load("test").scoring)
    state: dict = {}
    show(state, 3, cr("x1"), T0, caps=caps)
    kept, capped = caps.filter(state, "u1", [cr("x1"), cr("x2")], T0 + 5 * MIN)
    assert [c.creative_id for c in kept] == ["x2"] and capped == 1
