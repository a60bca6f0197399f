"""The simulated day's figures: each run's totals and hourly curves, the lifts, the verdict.

Definitions (docs/loop.md): CTR = attributed clicks / attributed impressions; CVR =
conversions / clicks; revenue = what the advertisers were charged *up to their daily budget*
(a charge beyond it is not billable); budget use = billable spend / the sum of the daily
budgets; ``ctr_within_budget`` = the CTR of the impressions of campaigns that had budget left
when shown (the frozen run goes on showing spent-out campaigns, unbillable); regret = the
oracle's expected value − the answer's (``scripts.sim.truth``), per request, averaged per hour (``regret_per_hour``) and as a share of the oracle's value
(``regret_share_per_hour``: the time of day moves both, the share less). A new creative is
discovered when its ``simulation.discovery_impressions``-th impression is shown.
``lift_expected_value`` is the lift of the answers' expected billable value under the true model
(``scripts.sim.truth``): the revenue a run earns on average, without the click and conversion
draws, whose variance (a few CPA conversions are a large share of revenue) widens the
interval of the realised revenue.
"""
from __future__ import annotations

import numpy as np

from scripts.sim import stats
from scripts.sim.run import HOUR_MS, RunResult


def _hourly(values: np.ndarray, hour: np.ndarray, hours: int, den: np.ndarray | None = None) -> list:
    out = []
    for h in range(hours):
        m = hour == h
        top = float(values[m].sum())
        if den is None:
            out.append(round(top, 6))
        else:
            bottom = float(den[m].sum())
            out.append(round(top / bottom, 6) if bottom > 0 else None)
    return out


def _budget(r: RunResult, budgets: dict[str, float], start: int, hours: int) -> dict:
    spent: dict[str, float] = {}
    use = []
    total = sum(budgets.values())
    charges = sorted(r.charges)
    k = 0
    for h in range(1, hours + 1):
        edge = start + h * HOUR_MS
        while k < len(charges) and charges[k][0] < edge:
            spent[charges[k][1]] = spent.get(charges[k][1], 0.0) + charges[k][2]
            k += 1
        use.append(round(sum(min(v, budgets.get(c, 0.0)) for c, v in spent.items()) / total, 6) if total else None)
    for ts, c, charge, _ in charges[k:]:     # the day's late clicks and conversions, after its last hour
        spent[c] = spent.get(c, 0.0) + charge
    over = [(v - budgets[c]) / budgets[c] for c, v in spent.items() if budgets.get(c, 0) > 0]
    return {"daily_budgets": round(total, 4), "charged": round(sum(spent.values()), 4),
            "billable": round(sum(min(v, budgets.get(c, 0.0)) for c, v in spent.items()), 4),
            "use": round(sum(min(v, budgets.get(c, 0.0)) for c, v in spent.items()) / total, 6) if total else None,
            "use_per_hour": use,
            "campaigns_spent_out": sum(v >= budgets.get(c, 0.0) > 0 for c, v in spent.items()),
            "overspend_max_share": round(max(over), 6) if over and max(over) > 0 else 0.0,
            "stopped_by_a_read": len(r.stop_ms),
            "impressions_after_stop": int(sum(r.after_stop.values()))}


QUARTER_MS = HOUR_MS // 4


def _new_ads(r: RunResult, start_ms: int, launch_ms: int, hours: int, n: int) -> dict:
    """Per new creative: impressions, discovery time, and its impressions so far at the end of every
    quarter hour of the day (``cumulative_by_quarter``, what the plot draws)."""
    ads = {}
    edges = start_ms + QUARTER_MS * np.arange(1, 4 * hours + 1)
    for c, times in r.new_ad_impressions.items():
        t = sorted(times)
        ads[c] = {"impressions": len(t),
                  "discovery_minutes": round((t[n - 1] - launch_ms) / 60_000, 1) if len(t) >= n else None,
                  "cumulative_by_quarter": np.searchsorted(np.asarray(t, dtype=np.int64), edges).tolist()}
    found = [a["discovery_minutes"] for a in ads.values() if a["discovery_minutes"] is not None]
    return {"after_impressions": n, "creatives": ads, "discovered": len(found),
            "median_discovery_minutes": float(np.median(found)) if found else None}


def run_figures(r: RunResult, world, cfg, budgets: dict[str, float]) -> dict:
    m, hours = r.per_request, world.hours
    imps, clicks, convs = m["impressions"].sum(), m["clicks"].sum(), m["conversions"].sum()
    return {
        "requests": len(r.hour), "impressions": int(imps), "clicks": int(clicks), "conversions": int(convs),
        "ctr": float(clicks / imps) if imps else None, "cvr": float(convs / clicks) if clicks else None,
        "impressions_of_spent_campaigns": int(m["spent_impressions"].sum()),
        "ctr_within_budget": _ratio(clicks - m["spent_clicks"].sum(), imps - m["spent_impressions"].sum()),
        "revenue": round(float(m["revenue"].sum()), 4), "charged": round(float(m["charged"].sum()), 4),
        "expected_value": round(float(m["value"].sum()), 4), "oracle_value": round(float(m["oracle"].sum()), 4),
        "regret": round(float(m["regret"].sum()), 4),
        "regret_per_hour": [None if x is None else round(x, 6) for x in
                            _hourly(m["regret"], r.hour, hours, np.ones(len(r.hour)))],
        "regret_share_per_hour": _hourly(m["regret"], r.hour, hours, m["oracle"]),
        "ctr_per_hour": _hourly(m["clicks"], r.hour, hours, m["impressions"]),
        "revenue_per_hour": _hourly(m["revenue"], r.hour, hours),
        "explored_requests": int(m["explored"].sum()), "fallback_answers": int(m["fallback"].sum()),
        "budget": _budget(r, budgets, world.start_ms, hours),
        "new_ads": {"launch_hour": (world.launch_ms - world.start_ms) / HOUR_MS,
                    **_new_ads(r, world.start_ms, world.launch_ms, hours, cfg.simulation.discovery_impressions)},
        "retrains": r.retrains, "feedback_rejected": r.rejected,
        "site_expected_clicks": round(r.expected_clicks, 4),
        "served_outside_candidates": r.served_outside_candidates, "seconds": round(r.seconds, 1)}


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def trend(values: list) -> float | None:
    """Least-squares slope per hour of the hours that have a value."""
    pts = [(h, v) for h, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return None
    h, v = np.array(pts, dtype=float).T
    return float(np.polyfit(h, v, 1)[0])


def report(world, cfg, loop: RunResult, frozen: RunResult, budgets: dict[str, float], seed: int) -> dict:
    s = cfg.simulation
    a, b = loop.per_request, frozen.per_request
    same = bool(np.array_equal(loop.unit, frozen.unit)) and len(loop.hour) == len(frozen.hour)
    sums = stats.unit_sums(loop.unit, a["clicks"], a["impressions"], b["clicks"], b["impressions"],
                           a["revenue"], b["revenue"], a["value"], b["value"])
    kw = dict(n_boot=s.bootstrap, seed=seed, confidence=s.confidence)
    lift_ctr = stats.lift(sums[0], sums[2], sums[1], sums[3], **kw)
    lift_rev = stats.lift(sums[4], sums[5], **kw)
    lift_value = stats.lift(sums[6], sums[7], **kw)
    out = {"seed": seed, "hours": world.hours, "requests": len(world.requests),
           "design": "the jobs' logic in one process on one simulated clock (no Flink, Kafka or Redis); "
                     "the jobs themselves are tested elsewhere",
           "paired": {"same_requests": same, "unit": lift_ctr["unit"]},
           "loop": run_figures(loop, world, cfg, budgets), "frozen": run_figures(frozen, world, cfg, budgets),
           "lift_ctr": lift_ctr, "lift_revenue": lift_rev, "lift_expected_value": lift_value}
    out["regret_per_hour"] = out["loop"]["regret_per_hour"]
    share = out["loop"]["regret_share_per_hour"]
    out["regret_trend"] = {"loop_share_slope_per_hour": trend(share),
                           "frozen_share_slope_per_hour": trend(out["frozen"]["regret_share_per_hour"]),
                           "loop_per_request_slope_per_hour": trend(out["regret_per_hour"])}
    falls = (out["regret_trend"]["loop_share_slope_per_hour"] or 0.0) < 0
    out["target"] = {"revenue_lift_ci_above_zero": bool(lift_rev["ci"][0] is not None and lift_rev["ci"][0] > 0),
                     "ctr_lift_ci_above_zero": bool(lift_ctr["ci"][0] is not None and lift_ctr["ci"][0] > 0),
                     "loop_regret_share_falls": bool(falls)}
    out["target"]["met"] = all(out["target"].values())
    return out
