"""Impression-based caps: the stored state's encoding, and the merge with the scorer's own answers."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from udfs.config import CapRule
from udfs.core import seen
from udfs.core.caps import FrequencyCaps

pytestmark = pytest.mark.unit

CAPS = FrequencyCaps([CapRule(3600, 3)], [CapRule(3600, 2)])
T = 1_764_547_200_000


def shown(campaign, creative, ts):
    return SimpleNamespace(campaign_id=campaign, creative_id=creative, ts=ts)


def test_fold_counts_impressions_in_the_caps_format_and_round_trips():
    st: dict = {}
    for i in range(5):
        seen.fold(st, CAPS, "u1", shown("cm|1", "cr=1", T + i))
    assert st["campaign|u1|cm|1"] == [T + 2, T + 3, T + 4]      # the largest limit's most recent
    assert seen.decode(seen.encode(st)) == st
    assert not CAPS.allowed(st, "u1", shown("cm|1", "other", 0), T + 10)


def test_decode_skips_what_does_not_parse():
    assert seen.decode(["campaign|u|c=1,2", "junk", "=3", "creative|u|x=a,1", None, 7]) == \
        {"campaign|u|c": [1, 2]}
    assert seen.decode(None) == {}


def test_merge_takes_old_impressions_and_recent_own_answers():
    stored = {"k": [T - 5000, T - 3000, T - 500]}     # the last one: the store already has it
    local = {"k": [T - 3000, T - 500, T - 100], "j": [T - 200]}
    got = seen.merge(stored, local, T, reconcile_ms=1000)
    assert got == {"k": [T - 5000, T - 3000, T - 500, T - 100], "j": [T - 200]}


def test_the_race_a_second_request_before_the_impressions_land_is_capped():
    """Two answers of the creative, neither impression stored yet: the scorer's own count caps it."""
    stored: dict = {}
    local: dict = {}
    c = shown("cm", "cr", 0)
    for t in (T, T + 50):
        CAPS.record(local, "u1", c, t)
    merged = seen.merge(stored, local, T + 100, reconcile_ms=5000)
    assert not CAPS.allowed(merged, "u1", c, T + 100)          # creative cap 2 reached
    # once the reconcile window has passed without impressions (never shown), it is allowed again
    later = seen.merge(stored, local, T + 6000, reconcile_ms=5000)
    assert CAPS.allowed(later, "u1", c, T + 6000)


def test_trim_local_forgets_answers_older_than_the_window():
    local = {"a": [T - 2000, T - 10], "b": [T - 5000]}
    seen.trim_local(local, T, 1000)
    assert local == {"a": [T - 10]}


def creative(campaign, cid):
    return SimpleNamespace(campaign_id=campaign, creative_id=cid)


def test_impression_caps_use_stored_impressions_and_own_recent_answers():
    from udfs.core.scoring_env import ImpressionCaps
    a, b = creative("cm", "a"), creative("cm2", "b")
    stored: dict = {}
    for t in (T - 50_000, T - 40_000):                 # two impressions of a, seen long ago (stored)
        seen.fold(stored, CAPS, "u1", SimpleNamespace(campaign_id="cm", creative_id="a", ts=t))
    own: dict = {}
    view = ImpressionCaps(CAPS, own, lambda: stored, reconcile_ms=10_000)
    kept, capped = view.filter("u1", [a, b], T)
    assert kept == [b] and capped == 1                  # creative cap 2/3600 s from what was seen
    # answered but not yet stored (the race): own answers within the reconcile window count
    view.record("u1", [b], T)
    view.record("u1", [b], T + 10)
    kept, capped = view.filter("u1", [b], T + 20)
    assert kept == [] and capped == 1 and own            # the filter never wrote the merge into state
    assert all(not k.endswith("|a") for k in own)


def test_impression_caps_without_a_stored_read_fall_back_to_own_answers():
    from udfs.core.scoring_env import ImpressionCaps
    a = creative("cm", "a")
    own: dict = {}
    CAPS.record(own, "u1", a, T - 30_000)
    CAPS.record(own, "u1", a, T - 20_000)               # older than the reconcile window
    assert ImpressionCaps(CAPS, own, lambda: None, 10_000).filter("u1", [a], T) == ([], 1)
    # with a stored read that says "never shown", those old answers no longer count
    assert ImpressionCaps(CAPS, own, lambda: {}, 10_000).filter("u1", [a], T) == ([a], 0)
