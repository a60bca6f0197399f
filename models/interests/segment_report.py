"""``adstream interests segments``: fit, write the files, draw the one-page report.

Writes into ``--out DIR``: ``segments.json`` (the centroids the profile job loads through
``interests.segments.centroids_uri``), ``assignments.parquet`` (user_id, segment_id),
``summary.json`` (per segment: size, top categories, activity, CTR when the data has clicks)
and ``report.html`` (the same for a marketer, with plots; models/html_page.py). A previous
``segments.json`` (``--previous``, or the one already in DIR) keeps the ids stable.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from models.html_page import STYLE, plt, png
from models.interests import segments as G
from models.jsonio import write_json
from udfs.core import segments as S


def summarise(fit: G.Fit, ctr: pd.DataFrame | None) -> list[dict]:
    """One dict per segment id: size, share, top categories by mean interest share, the typical
    (geometric mean: expm1 of the mean of the log1p columns) counts and price, and impressions/clicks/CTR of its users when ``ctr`` (user_id, clicked) is given."""
    m = fit.model
    cols = m.columns
    labels = pd.Series(fit.labels, index=fit.users)
    n_cnt = len(m.count_features)
    out = []
    for sid in m.ids:
        rows = fit.raw[fit.labels == sid]
        shares = rows[:, n_cnt + 1:].mean(axis=0) if len(rows) else np.zeros(len(m.categories))
        top = [(m.categories[i], round(float(shares[i]), 4)) for i in np.argsort(-shares)[:3] if shares[i] > 0]
        seg = {"segment_id": int(sid), "users": int(len(rows)), "share": round(len(rows) / max(len(fit.users), 1), 4),
               "top_categories": top,
               "mean": {c.removeprefix("log1p_"): round(float(np.expm1(rows[:, j].mean())), 3) if len(rows) else 0.0
                        for j, c in enumerate(cols[: n_cnt + 1])}}
        if ctr is not None:
            mine = ctr[ctr["user_id"].map(labels) == sid]
            seg.update(impressions=int(len(mine)), clicks=int(mine["clicked"].sum()),
                       ctr=round(float(mine["clicked"].mean()), 5) if len(mine) else None)
        out.append(seg)
    return out


def _plots(summary: list[dict], silhouettes: dict[int, float]) -> str:
    fig, axes = plt.subplots(1, 3 if "ctr" in summary[0] else 2, figsize=(13, 3.6))
    ids = [str(s["segment_id"]) for s in summary]
    axes[0].bar(ids, [s["users"] for s in summary], color="C0")
    axes[0].set(title="users per segment", xlabel="segment")
    ks = sorted(silhouettes)
    axes[1].plot(ks, [silhouettes[k] for k in ks], marker="o")
    axes[1].set(title="silhouette by k (the best is used)", xlabel="k")
    if len(axes) == 3:
        axes[2].bar(ids, [100 * (s["ctr"] or 0) for s in summary], color="C2")
        axes[2].set(title="CTR of the segment's users, %", xlabel="segment")
    return png(fig)


def page(fit: G.Fit, summary: list[dict], source: str) -> str:
    has_ctr = "ctr" in summary[0]
    head = ("<tr><th>segment</th><th>users</th><th>share</th><th>top categories (mean interest share)</th>"
            + "".join(f"<th>typical {html.escape(k)}</th>" for k in summary[0]["mean"])
            + ("<th>impressions</th><th>clicks</th><th>CTR</th>" if has_ctr else "") + "</tr>")
    rows = []
    for s in summary:
        cats = ", ".join(f"{html.escape(str(c))} ({v:.0%})" for c, v in s["top_categories"]) or "—"
        cells = "".join(f"<td>{v:g}</td>" for v in s["mean"].values())
        ctr = "—" if not has_ctr or s["ctr"] is None else f"{100 * s['ctr']:.2f} %"
        extra = f"<td>{s['impressions']}</td><td>{s['clicks']}</td><td>{ctr}</td>" if has_ctr else ""
        rows.append(f"<tr><td>{s['segment_id']}</td><td>{s['users']}</td><td>{s['share']:.1%}</td>"
                    f"<td style='text-align:left'>{cats}</td>{cells}{extra}</tr>")
    meta = fit.model.meta
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>User segments</title>"
            f"<style>{STYLE}</style></head><body><h1>User segments</h1>"
            f"<p>{len(fit.users)} users from {html.escape(source)}, grouped into {meta['k']} segments by "
            "their behaviour (event counts over the longest window, price level, and interest share per "
            "category). \"Typical\" is the geometric mean (the exponential of the mean log), which "
            "heavy users do not dominate. Segment ids are kept from the previous run where a segment matches one of it"
            f"{' (this run was matched)' if meta['matched_to_previous'] else ' (first run)'}. Campaigns can "
            "target segments by id (docs/ranking.md).</p>"
            f"<table>{head}{''.join(rows)}</table>{_plots(summary, fit.silhouettes)}</body></html>")


def write(out_dir: Path, fit: G.Fit, ctr: pd.DataFrame | None, source: str) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "segments.json").write_text(fit.model.to_json())
    pd.DataFrame({"user_id": fit.users, "segment_id": fit.labels}).to_parquet(out_dir / "assignments.parquet",
                                                                              index=False)
    summary = summarise(fit, ctr)
    write_json(out_dir / "summary.json", {"source": source, **fit.model.meta, "segments": summary})
    (out_dir / "report.html").write_text(page(fit, summary, source))
    return summary


def previous_model(path: Path | None) -> S.SegmentModel | None:
    return S.SegmentModel.from_json(path.read_text()) if path is not None and path.exists() else None
