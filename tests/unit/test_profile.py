"""Pure profile logic: windows, decay, order, sessions, TTL — clock and events given explicitly."""
import random

import pytest

from udfs.core import profile as P
from udfs.core.features import profile_feature_names

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
PARAMS = P.ProfileParams(windows_s=(600, 3600, 86400), half_life_s=3600, top_k=3,
                         session_gap_s=1800, ttl_s=7200)


def ev(sec, type_="view", cat="c1", brand="b1", price=10.0):
    return P.EventView(T0 + int(sec * 1000), type_, cat, brand, price)


def snap(events, params=PARAMS):
    return P.snapshot(P.build(events, params), params)


def test_snapshot_has_exactly_the_feature_list():
    assert list(snap([ev(0)])) == profile_feature_names(PARAMS.windows_s)


def test_window_boundaries_are_half_open():
    # T = 600 s: an event exactly 600 s before T is outside the 10-minute window, 1 ms later inside.
    s = snap([ev(0), ev(0.001), ev(600)])
    assert s["cnt_view_10m"] == 2 and s["cnt_view_1h"] == 3


def test_windows_expire_with_event_time_not_arrival():
    s = snap([ev(0, "cart"), ev(3601, "view")])
    assert s["cnt_cart_1h"] == 0 and s["cnt_cart_24h"] == 1 and s["cnt_view_10m"] == 1


def test_counts_per_type():
    s = snap([ev(1, "view"), ev(2, "search"), ev(3, "cart"), ev(4, "fav"), ev(5, "purchase")])
    assert [s[f"cnt_{t}_10m"] for t in ("view", "search", "cart", "fav", "purchase")] == [1] * 5


def test_decay_halves_per_half_life():
    s = snap([ev(0, cat="old"), ev(3600, cat="new")])
    scores = dict(zip(s["top_categories"], s["top_category_scores"]))
    assert scores["new"] == pytest.approx(1.0) and scores["old"] == pytest.approx(0.5)
    assert s["interest_total"] == pytest.approx(1.5)


def test_decay_over_many_half_lives_matches_the_formula():
    # 200 half-lives apart: the stored weights are re-anchored (×2^-k) instead of overflowing.
    rng = random.Random(3)
    times = sorted(rng.uniform(0, 200 * 3600) for _ in range(300))
    events = [ev(t, cat=f"c{i % 4}") for i, t in enumerate(times)]
    state = P.build(events, PARAMS)
    T = (T0 + int(times[-1] * 1000))
    expect = {f"c{k}": sum(2.0 ** (-(T - (T0 + int(t * 1000))) / 3.6e6)
                           for i, t in enumerate(times) if i % 4 == k) for k in range(4)}
    s = P.snapshot(state, PARAMS)
    got = dict(zip(s["top_categories"], s["top_category_scores"]))
    assert got == {c: pytest.approx(round(v, 6), abs=2e-6) for c, v in sorted(expect.items(),
                   key=lambda kv: -kv[1])[:3]}
    assert s["interest_total"] == pytest.approx(sum(expect.values()), abs=2e-6)
    assert max(state.cat.values()) < 2.0 ** 66


def test_top_k_orders_by_decayed_interest_then_name():
    events = [ev(0, cat="a"), ev(0, cat="a"), ev(0, cat="a"), ev(100, cat="b"), ev(100, cat="b"),
              ev(200, cat="c"), ev(200, cat="d")]
    s = snap(events)
    assert s["top_categories"] == ["a", "b", "c"]  # k = 3; c before d on equal score


def test_out_of_order_events_give_the_same_profile():
    rng = random.Random(7)
    events = [ev(rng.uniform(0, 20000), rng.choice(["view", "cart", "purchase", "fav"]),
                 f"c{rng.randint(0, 5)}", f"b{rng.randint(0, 3)}", rng.uniform(1, 100)) for _ in range(300)]
    shuffled = events[:]
    rng.shuffle(shuffled)
    assert snap(events) == snap(shuffled)


def test_late_event_inside_window_counts_and_decays_from_its_own_time():
    s = snap([ev(3600, cat="x"), ev(0, cat="y")])  # y arrives after x, one half-life older
    scores = dict(zip(s["top_categories"], s["top_category_scores"]))
    assert scores["y"] == pytest.approx(0.5) and s["cnt_view_1h"] == 1 and s["cnt_view_24h"] == 2


def test_recency_and_session():
    s = snap([ev(0, "cart"), ev(100, "purchase", price=30), ev(5000, "view"), ev(5600, "view")])
    assert s["last_event_ts"] == T0 + 5_600_000
    assert s["last_cart_ts"] == T0 and s["last_purchase_ts"] == T0 + 100_000
    # the 4900 s gap > 1800 s starts a new session at 5000 s
    assert s["session_start_ts"] == T0 + 5_000_000 and s["session_events"] == 2


def test_spend_price_level_brand_and_ratios():
    s = snap([ev(0, "view", price=10), ev(1, "view", price=30, brand="b2"), ev(2, "cart"),
              ev(3, "cart"), ev(4, "purchase", price=50, brand="b2")])
    assert s["total_spend"] == 50 and s["avg_price_viewed"] == 20 and s["avg_price_purchased"] == 50
    assert s["cart_to_purchase"] == 0.5 and s["view_to_cart"] == 1.0
    assert s["top_brand"] == "b1" and 0 < s["top_brand_share"] < 1


def test_retained_events_are_bounded_by_the_longest_window():
    st = P.build([ev(i * 600) for i in range(500)], PARAMS)  # 500 events over ~3.5 days
    assert len(st.ts) <= 86400 // 600 + 1
    assert P.snapshot(st, PARAMS)["cnt_view_24h"] == 144  # (T-24h, T] holds 144 of them


def test_ttl_expiry_is_judged_on_the_clock_passed_in():
    st = P.build([ev(0)], PARAMS)
    assert not P.expired(st, T0 + 7_200_000, PARAMS)
    assert P.expired(st, T0 + 7_200_001, PARAMS)
    assert not P.expired(P.ProfileState(), T0, PARAMS)


def test_params_from_config():
    from udfs import config
    cfg = config.load("test", environ={})
    p = P.ProfileParams.from_config(cfg.profile.windows)
    assert p.windows_s == tuple(cfg.profile.windows.count_windows_s) and p.top_k == cfg.profile.windows.top_k_categories
