"""``adstream experiment report``: one experiment's figures per variant, its lifts and its verdict.

Reads what ``models/experiment_data.py`` collected (the training log's impressions, and the
served log's requests when asked), computes with ``models/experiment_stats.py`` and writes
``report.json`` and a self-contained ``report.html`` (``models/experiment_html.py``). The
control is the experiment's first variant; every other variant is compared with it.

The verdict comes from the always-valid test on the primary lift
(``experiment_report.primary_metric``), evaluated at ``experiment_report.peeks`` looks spread
evenly over the data's time span: at each look the figures are recomputed from the rows
before it, as someone looking then would have seen them, and the p-value is the running
minimum. The fixed-horizon interval beside it is right only for one look at a sample size
fixed in advance; the report labels it so.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from models import experiment_stats as S
from models.experiment_data import Rows, ServedRequest, collect
from udfs.config.experiment_report import ExperimentReport
from udfs.config.experiments import Experiment

#: Per primary metric: (numerator, denominator) of the per-user ratio.
METRICS = {"ctr": ("clicks", "impressions"), "revenue_per_request": ("revenue", "requests")}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _variant(t: dict[str, np.ndarray], alpha: float) -> dict:
    out = {k: int(t[k].sum()) for k in ("requests", "impressions", "clicks", "conversions")}
    out = {"users": len(t["requests"]), **out, "revenue": float(t["revenue"].sum())}
    out["ctr"] = S.ratio(t["clicks"], t["impressions"]).as_dict(alpha)
    out["cvr"] = S.ratio(t["conversions"], t["clicks"]).as_dict(alpha)
    out["rpm"] = S.ratio(t["revenue"], t["requests"]).as_dict(alpha, scale=1000.0)
    return out


def _lift(tt: dict, tc: dict, metric: str) -> S.Lift:
    x, n = METRICS[metric]
    return S.lift(S.ratio(tt[x], tt[n]), S.ratio(tc[x], tc[n]))


def look_times(rows: Rows, end_ms: int, peeks: int) -> list[int]:
    """``peeks`` instants spread evenly from the first row to ``end_ms``, the last one ``end_ms``."""
    first = rows.first_ts
    if first is None:
        return []
    span = max(end_ms - first, 1)
    return sorted({first + int(round(span * k / peeks)) for k in range(1, peeks + 1)})


def _sequential(rows: Rows, looks: list[int], treat: str, control: str, st: ExperimentReport,
                alpha: float) -> dict:
    ests, counted, series = [], [], []
    for t in looks:
        tot = rows.totals(t)
        est = _lift(tot[treat], tot[control], st.primary_metric)
        ests.append(est)
        counted.append(min(len(tot[treat]["requests"]), len(tot[control]["requests"])) >= st.min_users)
        series.append({"ts": t, "time": iso(t), "users": est.users, "lift": S.num(est.value),
                       "ci": S.interval(est.value, est.se, alpha)})
    av = S.always_valid(ests, alpha, st.planned_users, counted)
    for point, tr, ok in zip(series, av.pop("trace"), counted):
        point.update(cs=tr["cs"], running_cs=tr["running_cs"], p_value=tr["p_value"], counted=ok)
    if av["decided_at"] is not None:
        av["decided_at"] = series[av["decided_at"]]["time"]
    return {"metric": st.primary_metric, **av, "looks": len(looks), "looks_counted": sum(counted),
            "series": series}


def _compare(rows: Rows, totals: dict, looks: list[int], treat: str, control: str,
             st: ExperimentReport, alpha: float) -> dict:
    tt, tc = totals[treat], totals[control]
    return {"variant": treat, "vs": control,
            "ctr_diff": S.two_proportion(int(tt["clicks"].sum()), int(tt["impressions"].sum()),
                                         int(tc["clicks"].sum()), int(tc["impressions"].sum()), alpha),
            "ctr_lift": S.lift_dict(_lift(tt, tc, "ctr"), alpha),
            "revenue_per_request_lift": S.lift_dict(_lift(tt, tc, "revenue_per_request"), alpha),
            "always_valid": _sequential(rows, looks, treat, control, st, alpha)}


def _warnings(rows: Rows, srm: dict, st: ExperimentReport, variants: dict, comparisons: list) -> list[str]:
    out = []
    if not srm["ok"]:
        out.append(f"sample ratio mismatch: users per variant differ from the configured shares "
                   f"(chi-square p = {srm['p_value']:.2g} < {st.srm_p}); the assignment or the logging "
                   f"is broken somewhere, so the lifts below are not to be trusted")
    if rows.requests_from == "impressions":
        out.append("requests counted from the training log (distinct request ids with an impression): "
                   "requests that got no impression are missing, so revenue per request reads high; "
                   "pass --served-log for the served log's count")
    if rows.notes["missing_charge"]:
        out.append(f"{rows.notes['missing_charge']} impressions have no charge (written before the "
                   f"training log carried it): they count no revenue")
    if rows.notes["units_in_several_variants"]:
        out.append(f"{rows.notes['units_in_several_variants']} users appear in more than one variant "
                   f"(was the salt or the shares changed during the experiment?)")
    out += [f"variant {n!r} has no users" for n, v in variants.items() if v["users"] == 0]
    out += [f"{c['variant']} vs {c['vs']}: the lift moved over time (the looks' confidence sequences no "
            f"longer overlap); the verdict is the first decisive look's" for c in comparisons
            if not c["always_valid"]["consistent"]]
    return out


def build(table: pa.Table, exp: Experiment, st: ExperimentReport, *, alpha: float | None = None,
          as_of_ms: int | None = None, served: list[ServedRequest] | None = None) -> dict:
    """The report as a JSON-ready dict."""
    alpha = st.alpha if alpha is None else alpha
    end = exp.stop_ms if as_of_ms is None else min(as_of_ms, exp.stop_ms)
    rows = collect(table, exp, end, served)
    last = rows.last_ts
    horizon = end if as_of_ms is not None or last is None else min(end, last + 1)
    totals = rows.totals()
    variants = {n: _variant(totals[n], alpha) for n in rows.variants}
    srm = S.srm([variants[n]["users"] for n in rows.variants], [v.share for v in exp.variants], st.srm_p)
    looks = look_times(rows, horizon, st.peeks)
    control = rows.variants[0]
    comparisons = [_compare(rows, totals, looks, t, control, st, alpha) for t in rows.variants[1:]]
    return {"experiment": exp.name, "labels": [exp.label(n) for n in rows.variants],
            "window": {"start": exp.start, "stop": exp.stop, "as_of": iso(as_of_ms),
                       "first_row": iso(rows.first_ts), "last_row": iso(last)},
            "alpha": alpha, "requests_from": rows.requests_from,
            "shares": {v.name: v.share for v in exp.variants},
            "variants": variants, "comparisons": comparisons, "srm": srm,
            "warnings": _warnings(rows, srm, st, variants, comparisons), "notes": rows.notes,
            "settings": {"planned_users": st.planned_users, "min_users": st.min_users,
                         "peeks": st.peeks, "primary_metric": st.primary_metric, "srm_p": st.srm_p},
            "method": S.METHOD}


def _pct(ci: list | None) -> str:
    return "—" if not ci else f"[{ci[0]:+.1%}, {ci[1]:+.1%}]"


def summary(rep: dict) -> list[str]:
    """A few lines for the terminal: per variant, per comparison, the warnings."""
    w = rep["window"]
    lines = [f"experiment {rep['experiment']}: {w['first_row'] or 'no rows'} … {w['last_row'] or ''} "
             f"(window {w['start']} – {w['stop']}; requests from the {rep['requests_from']})"]
    for name, v in rep["variants"].items():
        ctr = v["ctr"]["value"]
        lines.append(f"  {name:<16} users {v['users']:>7}  requests {v['requests']:>8}  impressions "
                     f"{v['impressions']:>8}  clicks {v['clicks']:>6}  CTR "
                     f"{'—' if ctr is None else f'{ctr:.4f}'}  revenue {v['revenue']:.2f}")
    for c in rep["comparisons"]:
        av = c["always_valid"]
        lines.append(f"  {c['variant']} vs {c['vs']}: CTR lift {_pc(c['ctr_lift']['value'])} "
                     f"(fixed-horizon CI {_pct(c['ctr_lift']['ci'])}), revenue/request lift "
                     f"{_pc(c['revenue_per_request_lift']['value'])} "
                     f"(fixed-horizon CI {_pct(c['revenue_per_request_lift']['ci'])})")
        lines.append(f"    verdict on {av['metric']} lift: {av['verdict'].upper()} (always-valid p "
                     f"{av['p_value']:.3g}, confidence sequence {_pct(av['cs'])}, "
                     f"{av['looks_counted']}/{av['looks']} looks counted)")
    s = rep["srm"]
    lines.append("  sample ratio: " + ("no users" if s["p_value"] is None else
                                       f"chi-square {s['chi2']:.2f}, p {s['p_value']:.3g} "
                                       f"({'ok' if s['ok'] else 'MISMATCH'})"))
    lines += [f"  warning: {m}" for m in rep["warnings"]]
    return lines


def _pc(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1%}"


def write(rep: dict, out: str | Path) -> tuple[Path, Path]:
    from models.experiment_html import render   # matplotlib only when a page is drawn
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    js, page = folder / "report.json", folder / "report.html"
    js.write_text(json.dumps(rep, indent=1, allow_nan=False))
    page.write_text(render(rep))
    return js, page
