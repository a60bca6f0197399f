"""Pure arithmetic of the scoring benchmark: per-window percentiles, the rate search's next step,
and CPU accounting from /proc numbers. No I/O here, so tests/unit/test_scoring_stats.py can
check each on made-up numbers.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

WINDOW_S = 10.0


def _q(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if a.size else float("nan")


def window_stats(send_s: Sequence[float], latencies_ms: Sequence[float], duration_s: float,
                 window_s: float = WINDOW_S, unanswered_s: Sequence[float] = ()) -> dict[str, list]:
    """p50/p99/p99.9 of the requests *sent* in each ``window_s`` stretch of the measured phase.

    By send time, not arrival: a queue that builds shows as a later window's higher latency.
    A last, shorter window (duration not a multiple of ``window_s``) is kept; ``n`` tells its
    size. Empty windows give NaN (JSON: null after ``finite``)."""
    count = max(1, math.ceil(duration_s / window_s - 1e-9))
    s, lat = np.asarray(send_s, dtype=float), np.asarray(latencies_ms, dtype=float)
    idx = np.clip((s // window_s).astype(int), 0, count - 1) if s.size else s.astype(int)
    lost = np.clip((np.asarray(unanswered_s, dtype=float) // window_s).astype(int), 0, count - 1)
    out: dict[str, list] = {"p50": [], "p99": [], "p999": [], "n": [], "unanswered": []}
    for w in range(count):
        a = lat[idx == w]
        out["p50"].append(_q(a, 50))
        out["p99"].append(_q(a, 99))
        out["p999"].append(_q(a, 99.9))
        out["n"].append(int(a.size))
        out["unanswered"].append(int((lost == w).sum()))
    return out


def finite(x):
    """NaN → None (JSON has no NaN), recursively through lists and dicts."""
    if isinstance(x, float):
        return None if math.isnan(x) else x
    if isinstance(x, list):
        return [finite(v) for v in x]
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    return x


def passes(summary: dict, p99_ms: float) -> bool:
    """Every measured request answered, and p99 within ``p99_ms``."""
    p99 = summary.get("p99_ms")
    return (summary.get("answered") == summary.get("sent") and p99 is not None
            and not math.isnan(p99) and p99 <= p99_ms)


def next_rate(tried: Sequence[tuple[float, bool]], start: float, step: float, lo: float,
              hi: float) -> float | None:
    """The rate search's next rate, or None when it is done.

    Climbs from ``start`` by ``step`` while every rate passes, and stops at the first that
    fails (that failure bounds it). If ``start`` itself fails it walks down instead, to the
    first rate that passes. ``lo``/``hi`` bound the rates tried."""
    if not tried:
        return start if lo <= start <= hi else None
    first_ok, (last, last_ok) = tried[0][1], tried[-1]
    if first_ok != last_ok:
        return None                     # crossed the boundary: done
    nxt = last + step if first_ok else last - step
    return nxt if lo <= nxt <= hi else None


def max_passing(tried: Sequence[tuple[float, bool]]) -> float | None:
    return max((r for r, ok in tried if ok), default=None)


# ------------------------------------------------------------------ CPU from /proc

def stat_cpu_ticks(stat_text: str, children: bool = False) -> int:
    """utime + stime (+ cutime + cstime of reaped children) from a /proc/PID/stat line.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from
    the last ')'."""
    f = stat_text[stat_text.rindex(")") + 2:].split()
    ticks = int(f[11]) + int(f[12])     # fields 14, 15 of proc(5): utime, stime
    return ticks + (int(f[13]) + int(f[14]) if children else 0)


def stat_ppid(stat_text: str) -> int:
    return int(stat_text[stat_text.rindex(")") + 2:].split()[1])


def descendants(ppids: dict[int, int], root: int) -> set[int]:
    """Every process under ``root`` in a {pid: parent pid} map (``root`` excluded)."""
    kids: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def machine_busy_ticks(proc_stat_text: str) -> tuple[int, int]:
    """(busy, total) ticks over all CPUs from /proc/stat's first line; idle and iowait are not busy.

    guest time is already inside user, so only the first eight columns are summed."""
    cols = [int(v) for v in proc_stat_text.splitlines()[0].split()[1:9]]
    total = sum(cols)
    return total - cols[3] - cols[4], total


def loadavg(text: str) -> list[float]:
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    return [float(v) for v in text.split()[:3]]


def cores(ticks_before: int, ticks_after: int, wall_s: float, clk_tck: int) -> float:
    """CPU ticks spent over a stretch of wall time, as cores (1.0 = one core busy throughout)."""
    return (ticks_after - ticks_before) / clk_tck / wall_s if wall_s > 0 else float("nan")


def ms_per_request(ticks: int, clk_tck: int, requests: int) -> float:
    return ticks / clk_tck * 1000.0 / requests if requests else float("nan")
