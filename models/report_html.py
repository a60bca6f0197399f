"""A self-contained HTML page from ``report.json``: tables plus PNG plots embedded as data URIs.

Drawn with matplotlib's Agg backend (no display needed), one file to attach
to a ticket or open from a laptop without the data or the code.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from models.html_page import STYLE as _STYLE
from models.html_page import plt
from models.html_page import png as _png


def _curves(rep: dict) -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, c in rep["curves"].items():
        r = c["reliability"]
        a.plot(r["mean_pred"], r["observed"], marker="o", ms=3, label=name)
        if c["roc"]["fpr"]:
            b.plot(c["roc"]["fpr"], c["roc"]["tpr"], label=name)
    hi = max([max(c["reliability"]["mean_pred"] + c["reliability"]["observed"] or [0])
              for c in rep["curves"].values()] + [1e-3])
    a.plot([0, hi], [0, hi], "k--", lw=0.8)
    a.set(title="Reliability (equal-mass bins)", xlabel="mean predicted CTR", ylabel="observed CTR")
    b.plot([0, 1], [0, 1], "k--", lw=0.8)
    b.set(title="ROC (test)", xlabel="false positive rate", ylabel="true positive rate")
    a.legend()
    b.legend()
    return _png(fig)


def _importance(rep: dict) -> str:
    imp = rep.get("feature_importance") or []
    if not imp:
        return ""
    imp = imp[:20][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(imp) + 1))
    ax.barh([r["feature"] for r in imp], [r["gain_share"] for r in imp])
    ax.set(title="Feature importance (share of total gain)")
    return _png(fig)


def _table(rows: list[list], head: list[str]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape("—" if v is None else str(v))


def _ci(d: dict | None) -> str:
    if not d:
        return "—"
    return f"{d['diff']:+.4f} ({d['low']:+.4f} … {d['high']:+.4f})"


def _candidates(rep: dict) -> str:
    """Every candidate on the test block; the paired CIs are shipped − candidate."""
    if "candidates" not in rep:
        return ""
    rows = []
    for name, c in rep["candidates"].items():
        d = c.get("shipped_minus_this") or {}
        e = c["ece_ci"]
        rows.append([("▶ " if name == rep["shipped"] else "") + name, c["valid_logloss"], c["auc"], c["logloss"],
                     f"{c['ece']:.4f} ({e['low']:.4f} … {e['high']:.4f})", c["calibration"],
                     _ci(d.get("auc")), _ci(d.get("logloss")),
                     "yes" if c["exportable"] else f"no: {c['export_error']}"])
    head = ["candidate", "valid log loss", "test AUC", "test log loss", "test ECE (95% CI)", "calibrator",
            "shipped − this: AUC (95% CI)", "shipped − this: log loss (95% CI)", "ONNX parity"]
    cc = rep.get("calibration_check") or {}
    fl = cc.get("ece_noise_floor") or {}
    note = (f"<p>Calibration check ({html.escape(str(cc.get('method')))}): ECE {cc.get('ece', 0):.4f} vs "
            f"{cc.get('ece_uncalibrated', 0):.4f} uncalibrated, difference {_ci(cc.get('ece_minus_uncalibrated'))}"
            f" — {'not worse beyond its CI' if cc.get('ok') else '<span class=bad>worse beyond its CI</span>'}. "
            f"A perfectly calibrated model would show ECE {fl.get('mean', float('nan')):.4f} "
            f"(95th percentile {fl.get('q95', float('nan')):.4f}) on these rows.</p>") if cc else ""
    return (f"<h2>Candidates (chosen on validation, shown on test)</h2><p>Shipped: <b>"
            f"{html.escape(rep['shipped'])}</b> — {html.escape(rep['why'])}.</p>"
            + _table(rows, head) + note)


def render(rep: dict) -> str:
    keys = ["auc", "logloss", "normalized_entropy", "ece", "mean_pred"]
    rows = [[f"model (shipped: {rep.get('shipped', 'xgboost')})"] + [rep.get(k) for k in keys]]
    for name, b in rep["baselines"].items():
        rows.append([f"baseline: {name}"] + [b.get(k) for k in keys])
    if "oracle" in rep:
        rows.append(["oracle (true p)"] + [rep["oracle"].get(k) for k in keys])
    if "oracle_observable" in rep:
        rows.append(["oracle without latent user clickiness"] + [rep["oracle_observable"].get(k) for k in keys])
    ci = rep.get("auc_ci", {})
    verdict = ('<span class="ok">beats LR on AUC and log loss</span>' if rep.get("beats_lr")
               else '<span class="bad">does NOT beat LR on both AUC and log loss</span>')
    parts = [f"<h1>CTR model report — {html.escape(rep['dataset'])}</h1>",
             f"<p>train {rep['n_train']:,} · valid {rep['n_valid']:,} · test {rep['n_test']:,} rows "
             f"({rep['clicks_test']} test clicks, CTR {rep['ctr_test']:.4f}); split by time, oldest first. "
             f"Data fingerprint <code>{rep['fingerprint'][:16]}</code>.</p>",
             f"<p>Test AUC {rep['auc']:.4f} (95% bootstrap CI {ci.get('low', float('nan')):.4f}–"
             f"{ci.get('high', float('nan')):.4f}); {verdict}.</p>",
             _table(rows, ["", *keys]), _candidates(rep), _curves(rep), _importance(rep)]
    for seg, vals in rep.get("segments", {}).items():
        parts.append(f"<h2>AUC by {html.escape(seg)}</h2>")
        parts.append(_table([[k, v["n"], v["clicks"], v["ctr"], v["mean_pred"], v["auc"]] for k, v in vals.items()],
                            [seg, "rows", "clicks", "CTR", "mean pred", "AUC"]))
    if "calibration" in rep:
        parts.append(f"<h2>Calibration</h2><pre>{html.escape(json.dumps(rep['calibration'], indent=1)[:2000])}</pre>")
    if "model" in rep:
        parts.append(f"<h2>Model</h2><pre>{html.escape(json.dumps(rep['model'], indent=1))}</pre>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>CTR report {html.escape(rep['dataset'])}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write(rep: dict, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(render(rep))
    return p
