"""p50/p99 per 10-s window for each phase of a scoring benchmark, as one PNG.

One small panel a phase, on a log scale (a variant with a queue reaches seconds while the
others stay in milliseconds), with the 20 ms p99 target drawn: a queue that builds shows as
a rising line, a steady phase as a flat one.
"""
from __future__ import annotations

import math
from pathlib import Path


def plot(phases: list[tuple[str, dict]], path: Path, target_ms: float, title: str) -> Path | None:
    """``phases``: (label, summary with ``p50_by_window_ms``/``p99_by_window_ms``/``window_s``)."""
    shown = [(label, s) for label, s in phases if s.get("p99_by_window_ms")]
    if not shown:
        return None
    import matplotlib
    matplotlib.use("Agg")              # no display on these machines
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False, sharex=False)
    for ax, (label, s) in zip(axes.flat, shown):
        w = s.get("window_s", 10.0)
        xs = [(i + 0.5) * w for i in range(len(s["p99_by_window_ms"]))]
        for key, name in (("p50_by_window_ms", "p50"), ("p99_by_window_ms", "p99")):
            ys = [v if v is not None and v > 0 else float("nan") for v in s[key]]
            ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.axhline(target_ms, color="grey", linestyle="--", linewidth=0.8, label=f"{target_ms:.0f} ms")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())   # 20, not 2 x 10^1
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(0, len(xs) * w)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("seconds into the phase (by send time)", fontsize=7)
        ax.set_ylabel("ms", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))   # room for the title above the first row
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
