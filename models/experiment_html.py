"""The experiment report as one self-contained HTML page: tables, and PNG plots as data URIs.

The two plots a reader looks at first: the primary lift over time with its always-valid
confidence sequence (the band a decision may be read from at any look) and, fainter, the
fixed-horizon interval (valid only at one look planned in advance); and each variant's CTR
with its interval. Drawn with the model report's helpers (``models/report_html.py``: the
Agg backend, PNGs embedded), so the page opens anywhere without the data or the code.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

from models.html_page import STYLE as _STYLE
from models.html_page import plt
from models.html_page import png as _png


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _lift_plot(c: dict) -> str:
    av = c["always_valid"]
    pts = [p for p in av["series"] if p["lift"] is not None]
    if not pts:
        return "<p>No look had data for both variants yet: no lift to plot.</p>"
    fig, ax = plt.subplots(figsize=(10, 4))
    t = [_when(p["ts"]) for p in pts]
    ax.plot(t, [p["lift"] for p in pts], marker="o", ms=3, color="C0", label=f"{av['metric']} lift")
    band = [(x, p["cs"]) for x, p in zip(t, pts) if p["cs"]]
    if band:
        ax.fill_between([b[0] for b in band], [b[1][0] for b in band], [b[1][1] for b in band],
                        color="C0", alpha=0.12, label="this look's confidence sequence")
    run = [(x, p["running_cs"]) for x, p in zip(t, pts) if p.get("running_cs")]
    if run:
        ax.fill_between([b[0] for b in run], [b[1][0] for b in run], [b[1][1] for b in run], color="C0",
                        alpha=0.3, label=f"always-valid {1 - av['alpha']:.0%} confidence sequence (so far)")
    fixed = [(x, p["ci"]) for x, p in zip(t, pts) if p["ci"]]
    if fixed:
        ax.plot([f[0] for f in fixed], [f[1][0] for f in fixed], "k:", lw=1,
                label=f"fixed-horizon {1 - av['alpha']:.0%} CI (one planned look only)")
        ax.plot([f[0] for f in fixed], [f[1][1] for f in fixed], "k:", lw=1)
    later = [v for _, b in run[len(run) // 5:] for v in b] + [p["lift"] for p in pts[len(pts) // 5:]] + [0.0]
    if run:   # the first looks' bands are very wide; scale to the later ones so the decision is legible
        pad = 0.15 * (max(later) - min(later) or 1.0)
        ax.set_ylim(min(later) - pad, max(later) + pad)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=f"{c['variant']} vs {c['vs']}: cumulative {av['metric']} lift", xlabel="look (UTC)",
           ylabel="relative lift")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:+.0%}")
    fig.autofmt_xdate()
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def _ctr_plot(rep: dict) -> str:
    names = list(rep["variants"])
    vals = [rep["variants"][n]["ctr"] for n in names]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 3, 3.5))
    for i, v in enumerate(vals):
        if v["value"] is None:
            continue
        err = [[v["value"] - v["ci"][0]], [v["ci"][1] - v["value"]]] if v["ci"] else None
        ax.errorbar([i], [v["value"]], yerr=err, fmt="o", capsize=6, color=f"C{i}")
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set(title=f"CTR per variant, {1 - rep['alpha']:.0%} CI over users", ylabel="CTR")
    return _png(fig)


def _f(v, spec: str = ".4f") -> str:
    return "—" if v is None else format(v, spec)


def _ci(d: dict, spec: str = ".4f") -> str:
    return "—" if not d.get("ci") else f"{_f(d['value'], spec)} [{_f(d['ci'][0], spec)}, {_f(d['ci'][1], spec)}]"


def _variants(rep: dict) -> str:
    head = ["variant", "share", "users", "requests", "impressions", "clicks", "conversions", "revenue",
            "CTR [CI]", "CVR [CI]", "revenue / 1000 requests [CI]"]
    rows = []
    for n, v in rep["variants"].items():
        rows.append([n, f"{rep['shares'][n]:g}", v["users"], v["requests"], v["impressions"], v["clicks"],
                     v["conversions"], f"{v['revenue']:.2f}", _ci(v["ctr"]), _ci(v["cvr"]), _ci(v["rpm"], ".3f")])
    return _table(head, rows)


def _comparisons(rep: dict) -> str:
    head = ["variant vs control", "CTR difference [CI], p (impressions independent)",
            "CTR lift [fixed-horizon CI], p", "revenue/request lift [fixed-horizon CI], p",
            "verdict (always-valid)", "always-valid p", "confidence sequence"]
    rows = []
    for c in rep["comparisons"]:
        av = c["always_valid"]
        cs = "—" if not av["cs"] else f"[{av['cs'][0]:+.1%}, {av['cs'][1]:+.1%}]"
        rows.append([f"{c['variant']} vs {c['vs']}", f"{_ci(c['ctr_diff'], '+.4f')}, p {_f(c['ctr_diff']['p_value'], '.3g')}",
                     f"{_ci(c['ctr_lift'], '+.1%')}, p {_f(c['ctr_lift']['p_value'], '.3g')}",
                     f"{_ci(c['revenue_per_request_lift'], '+.1%')}, p "
                     f"{_f(c['revenue_per_request_lift']['p_value'], '.3g')}",
                     f"<b>{html.escape(av['verdict'])}</b> ({av['metric']} lift)", _f(av["p_value"], ".3g"), cs])
    return _table(head, rows, raw=True)


def _table(head: list[str], rows: list[list], raw: bool = False) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    cell = (lambda v: str(v)) if raw else (lambda v: html.escape(str(v)))
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def render(rep: dict) -> str:
    w, s = rep["window"], rep["srm"]
    srm = ("no users yet" if s["p_value"] is None else
           f"chi-square {s['chi2']:.2f}, p = {s['p_value']:.3g} — "
           + ("<span class=ok>consistent with the configured shares</span>" if s["ok"]
              else "<span class=bad>MISMATCH: do not trust the lifts</span>"))
    parts = [f"<h1>Experiment {html.escape(rep['experiment'])}</h1>",
             f"<p>Window {html.escape(w['start'])} – {html.escape(w['stop'])}"
             + (f", as of {html.escape(w['as_of'])}" if w["as_of"] else "")
             + f"; rows from {html.escape(str(w['first_row']))} to {html.escape(str(w['last_row']))}. "
             f"Control: <b>{html.escape(next(iter(rep['variants'])))}</b>. Requests counted from the "
             f"{html.escape(rep['requests_from'])}.</p>"]
    parts += [f"<p class=bad>Warning: {html.escape(m)}</p>" for m in rep["warnings"]]
    parts += ["<h2>Variants</h2>", _variants(rep), _ctr_plot(rep),
              f"<p>Sample ratio: {srm}.</p>", "<h2>Treatment vs control</h2>", _comparisons(rep)]
    parts += [_lift_plot(c) for c in rep["comparisons"]]
    parts.append(f"<h2>Method</h2><p>{html.escape(rep['method'])}</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Experiment {html.escape(rep['experiment'])}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
