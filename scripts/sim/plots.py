"""The simulated day's plots (PNG, matplotlib without a display): one figure per question.

``ctr_per_hour.png`` and ``revenue_per_hour.png`` (both runs), ``regret_per_hour.png`` (mean
regret per request, both runs), ``budget_use.png`` (billable spend / daily budgets, cumulative
by hour) and ``new_ads.png`` (each new creative's cumulative impressions by quarter hour, the loop solid,
the frozen run dashed; log scale, the dotted line is the discovery threshold). Drawn from the
report alone, so a saved report can be drawn again. Small on purpose: they go in docs/img/.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

RUNS = (("loop", "tab:blue", "-"), ("frozen", "tab:orange", "--"))


def _figure(title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(6.0, 3.0), dpi=80)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("hour of the simulated day", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    return fig, ax


def _hourly(rep: dict, key: str, title: str, ylabel: str, path: Path, scale: float = 1.0) -> Path:
    fig, ax = _figure(title, ylabel)
    for run, color, style in RUNS:
        ys = rep[run][key]
        pts = [(h + 0.5, y * scale) for h, y in enumerate(ys) if y is not None]
        if pts:
            ax.plot(*zip(*pts), style, color=color, marker=".", label=run)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _new_ads(rep: dict, path: Path) -> Path:
    fig, ax = _figure("new ads: cumulative impressions", "impressions")
    for run, color, style in RUNS:
        for k, (creative, ad) in enumerate(sorted(rep[run]["new_ads"]["creatives"].items())):
            counts = ad["cumulative_by_quarter"]
            pts = [((q + 1) / 4, n) for q, n in enumerate(counts) if n > 0]
            if pts:
                ax.step(*zip(*pts), style, color=color, where="post", label=run if k == 0 else None, alpha=0.8)
    ax.axhline(rep["loop"]["new_ads"]["after_impressions"], color="grey", lw=0.8, ls=":")   # discovered above
    ax.axvline(rep["loop"]["new_ads"]["launch_hour"], color="grey", lw=0.8)
    ax.set_xlim(0, rep["hours"])
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write(rep: dict, out_dir: Path) -> list[Path]:
    """Every plot of the report ``rep`` (``scripts.sim.report``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _hourly(rep, "ctr_per_hour", "CTR per hour", "CTR (%)", out_dir / "ctr_per_hour.png", 100.0),
        _hourly(rep, "revenue_per_hour", "revenue per hour (billable)", "revenue", out_dir / "revenue_per_hour.png"),
        _hourly(rep, "regret_per_hour", "regret per request against the oracle", "regret per request",
                out_dir / "regret_per_hour.png"),
        _hourly({"hours": rep["hours"], **{r: rep[r]["budget"] for r, _, _ in RUNS}}, "use_per_hour",
                "budget use (billable spend / daily budgets)", "share of budgets (%)",
                out_dir / "budget_use.png", 100.0),
        _new_ads(rep, out_dir / "new_ads.png"),
    ]
