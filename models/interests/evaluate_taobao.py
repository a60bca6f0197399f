"""The Taobao half of ``adstream interests evaluate``: next-category hit-rate@10.

Time-ordered split of the UserBehavior sample: the newest ``interests.evaluate.test_fraction``
of its time span is the test period. ALS and the association rules are fitted on the events
before it only. For each user with a cart or purchase in the test period, the target is the
category of the first such event; the user's decayed interests are folded (the profile job's
fold, ``udfs.core.profile``) from every event of theirs strictly before it. Three top-10 lists:

- ``interests``: the top 10 categories by decayed interest;
- ``als``: the top ``10 − slots`` interests, then the user's ALS affinities (unseen categories,
  best first), then the remaining interests, until 10;
- ``rules``: the top ``10 − 2·slots`` interests, ``slots`` ALS affinities, then the categories the
  rules recommend for the user's basket (best confidence first), then the rest in that order.

``hit_rate_at_10_fill_only`` is the same with the collaborative lists only filling the slots
the user's interests leave empty (fewer than 10 categories). A hit is the target category in
the list; the hit-rate is over targets. ``slots`` is
``SLOTS`` (3): enough for the collaborative lists to matter without crowding out the profile.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.interests import affinities as A
from models.interests import events as E
from udfs.core import profile as P

K = 10
SLOTS = 3
TARGET_TYPES = ("cart", "purchase")


def _merge(*parts: tuple[list[str], int]) -> list[str]:
    """Take up to n from each list in turn (skipping repeats), then fill to K from them in order."""
    out: list[str] = []
    for items, n in parts:
        for c in [c for c in items if c not in out][:n]:
            out.append(c)
    for items, _ in parts:
        for c in items:
            if len(out) >= K:
                return out
            if c not in out:
                out.append(c)
    return out[:K]


def targets(events: pd.DataFrame, split_ts: int) -> pd.DataFrame:
    """Each user's first cart or purchase at or after ``split_ts``: user_id, ts, category_id."""
    test = events[(events["ts"] >= split_ts) & events["type"].isin(TARGET_TYPES) & events["category_id"].notna()]
    return test.sort_values(["ts"], kind="stable").drop_duplicates("user_id")[["user_id", "ts", "category_id"]]


def _histories(events: pd.DataFrame, tg: pd.DataFrame, params: P.ProfileParams) -> dict[str, list[str]]:
    """Each target user's top categories by decayed interest just before their target event."""
    until = dict(zip(tg["user_id"], tg["ts"]))
    mine = events[events["user_id"].isin(until)]
    mine = mine[mine["ts"] < mine["user_id"].map(until)]
    snaps = E.fold_profiles(mine, P.ProfileParams(params.windows_s, params.half_life_s, K, params.session_gap_s,
                                                  params.ttl_s))
    return {u: list(s["top_categories"]) for u, s in snaps.items()}


def _rates(hits: dict[str, list[bool]]) -> dict[str, float | None]:
    return {k: round(float(np.mean(v)), 4) if v else None for k, v in hits.items()}


def evaluate(csv_path, cfg, say) -> dict:
    """``taobao.*`` of the evaluation file (see the module docstring)."""
    events = E.taobao_events(csv_path)
    lo, hi = int(events["ts"].min()), int(events["ts"].max())
    split_ts = int(lo + (1 - cfg.interests.evaluate.test_fraction) * (hi - lo))
    train = events[events["ts"] < split_ts]
    tg = targets(events, split_ts)
    say(f"taobao: {len(events)} events, {events['user_id'].nunique()} users; {len(train)} before the split, "
        f"{len(tg)} targets (first cart/purchase per user after it)")
    a = cfg.interests.affinities
    x = A.interactions(train, "category_id", a.weights)
    als = A.top_unseen(A.fit_als(x, a), x, K)
    rules = A.association_rules(train, cfg.interests.rules, a.weights)
    onehot = A.baskets(train, a.weights)
    basket = {u: set(onehot.columns[r]) for u, r in zip(onehot.index, onehot.to_numpy())}
    hist = _histories(events, tg, P.ProfileParams.from_config(cfg.profile.windows))
    hits = {"interests": [], "als": [], "rules": []}
    fill = {"als": [], "rules": []}
    for u, cat in zip(tg["user_id"], tg["category_id"]):
        mine = hist.get(u, [])
        aff = [c for c, _ in als.get(u, [])]
        by_rule = [c for c, _ in sorted(A.rule_scores(rules, basket.get(u, set()) | set(mine)).items(),
                                        key=lambda kv: (-kv[1], kv[0]))]
        lists = {"interests": mine[:K], "als": _merge((mine, K - SLOTS), (aff, SLOTS)),
                 "rules": _merge((mine, K - 2 * SLOTS), (aff, SLOTS), (by_rule, SLOTS))}
        for name, got in lists.items():
            hits[name].append(cat in got)
        fill["als"].append(cat in _merge((mine, K), (aff, K)))
        fill["rules"].append(cat in _merge((mine, K), (aff, SLOTS), (by_rule, K)))
    return {"hit_rate_at_10": _rates(hits), "hit_rate_at_10_fill_only": _rates(fill),
            "targets": len(tg), "users": int(events["user_id"].nunique()), "rules": len(rules),
            "split_ts": split_ts, "slots": SLOTS, "path": str(csv_path),
            "targets_with_history": int(sum(1 for u in tg["user_id"] if hist.get(u)))}
