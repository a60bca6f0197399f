"""Summary figures of a generated world: volumes, rates and the oracle's own AUC.

The oracle AUC (of ``p_click_oracle`` against the sampled clicks on the logged
impressions) is the ceiling a CTR model trained on this world can approach.
"""
from __future__ import annotations

import numpy as np


def auc(labels, scores) -> float:
    """ROC AUC by the rank-sum (Mann–Whitney) formula, ties given average ranks.

    NaN when only one class is present.
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)                      # rank of the last member of each tie group
    avg_rank = upper - (counts - 1) / 2.0
    rank_sum = avg_rank[inverse][y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def summary(world) -> dict[str, float | int]:
    """Counts and rates of ``world`` (a :class:`scripts.synth.World`), in display order."""
    w, s = world.static, world.streams
    im = s.impressions
    clicks, convs = len(s.ad_clicks), len(s.conversions)
    return {
        "users": len(w.users), "items": len(w.items), "advertisers": len(w.advertisers),
        "campaigns": len(w.campaigns), "creatives": len(w.creatives),
        "events": len(s.events), "requests": len(s.requests), "impressions": len(im),
        "ad_clicks": clicks, "conversions": convs,
        "ctr": clicks / len(im) if len(im) else float("nan"),
        "mean_p_click_oracle": float(im["p_click_oracle"].mean()) if len(im) else float("nan"),
        "cvr_after_click": convs / clicks if clicks else float("nan"),
        "oracle_auc": auc(im["clicked"], im["p_click_oracle"]),
    }
