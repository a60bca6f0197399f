"""The scoring benchmark's pure arithmetic: windows, the rate search's steps, CPU from /proc text."""
import math

import pytest

from scripts.bench import scoring_stats as S


def test_windows_group_by_send_time_and_show_a_building_queue():
    # 30 s at 10/s; latency grows with send time, as when a queue builds
    send = [i / 10 for i in range(300)]
    lat = [1.0 + t for t in send]
    w = S.window_stats(send, lat, duration_s=30)
    assert w["n"] == [100, 100, 100]
    assert w["p50"][0] < w["p50"][1] < w["p50"][2]
    # numpy's linear percentile of 100 evenly spaced values: index 0.99 x 99 = 98.01
    assert w["p99"] == pytest.approx([10.801, 20.801, 30.801])
    assert w["p50"] == pytest.approx([5.95, 15.95, 25.95])
    assert w["unanswered"] == [0, 0, 0]


def test_a_partial_last_window_is_kept_and_empty_windows_are_nan():
    w = S.window_stats([0.5, 1.0, 12.0], [2.0, 4.0, 8.0], duration_s=25)
    assert w["n"] == [2, 1, 0]
    assert w["p50"][:2] == [3.0, 8.0]
    assert math.isnan(w["p99"][2])
    assert S.finite(w)["p99"][2] is None


def test_sends_on_the_last_edge_fall_in_the_last_window_and_unanswered_are_counted():
    w = S.window_stats([9.999, 10.0, 20.0], [1.0, 1.0, 1.0], duration_s=20, unanswered_s=[0.1, 19.9, 25.0])
    assert w["n"] == [1, 2]              # 20.0 (the schedule's end) clips into the last window
    assert w["unanswered"] == [1, 2]


def test_no_samples_at_all_gives_one_nan_window():
    w = S.window_stats([], [], duration_s=0)
    assert w["n"] == [0] and math.isnan(w["p50"][0])


def test_passes_needs_every_request_answered_and_p99_within():
    assert S.passes({"answered": 10, "sent": 10, "p99_ms": 20.0}, 20)
    assert not S.passes({"answered": 10, "sent": 10, "p99_ms": 20.01}, 20)
    assert not S.passes({"answered": 9, "sent": 10, "p99_ms": 1.0}, 20)
    assert not S.passes({"answered": 0, "sent": 0, "p99_ms": float("nan")}, 20)


def _walk(verdict, start=500, step=50, lo=50, hi=2000):
    tried = []
    while (r := S.next_rate(tried, start, step, lo, hi)) is not None:
        tried.append((r, verdict(r)))
    return tried


def test_search_climbs_until_the_first_failing_rate():
    tried = _walk(lambda r: r <= 620)
    assert [r for r, _ in tried] == [500, 550, 600, 650]
    assert S.max_passing(tried) == 600


def test_search_walks_down_when_the_start_fails():
    tried = _walk(lambda r: r <= 420)
    assert [r for r, _ in tried] == [500, 450, 400]
    assert S.max_passing(tried) == 400


def test_search_stays_within_its_bounds():
    assert [r for r, _ in _walk(lambda r: True, hi=600)] == [500, 550, 600]
    down = _walk(lambda r: False, start=150, lo=50)
    assert [r for r, _ in down] == [150, 100, 50] and S.max_passing(down) is None
    assert S.next_rate([], 500, 50, 50, 400) is None      # a start outside the bounds: no search


# A /proc/PID/stat line whose command name holds a space and a ')' (fields 14-17: 1500 250 40 10)
STAT = ("4242 (java (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1500 250 40 10 20 0 80 0 "
        "12345 1000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")


def test_stat_fields_are_counted_from_the_last_parenthesis():
    assert S.stat_cpu_ticks(STAT) == 1750
    assert S.stat_cpu_ticks(STAT, children=True) == 1800
    assert S.stat_ppid(STAT) == 1


def test_cores_and_ms_per_request_from_ticks():
    assert S.cores(1000, 1600, wall_s=10.0, clk_tck=100) == pytest.approx(0.6)
    assert S.ms_per_request(ticks=300, clk_tck=100, requests=5000) == pytest.approx(0.6)
    assert math.isnan(S.ms_per_request(ticks=300, clk_tck=100, requests=0))
    assert math.isnan(S.cores(0, 1, wall_s=0.0, clk_tck=100))


def test_machine_busy_excludes_idle_and_iowait_and_not_guest_twice():
    # user nice system idle iowait irq softirq steal guest guest_nice
    text = "cpu  100 10 50 800 40 5 5 0 30 0\ncpu0 50 5 25 400 20 2 3 0 15 0\n"
    busy, total = S.machine_busy_ticks(text)
    assert (busy, total) == (170, 1010)


def test_descendants_walks_the_whole_tree_and_nothing_else():
    ppids = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
    assert S.descendants(ppids, 10) == {11, 12, 13}
    assert S.descendants(ppids, 12) == set()


def test_loadavg_parses_the_three_averages():
    assert S.loadavg("3.21 2.50 1.75 4/812 99999\n") == [3.21, 2.50, 1.75]

