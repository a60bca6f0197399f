"""``adstream interests affinities``: ALS affinities and FP-growth rules → files for Feast.

Writes into ``--out DIR``: ``affinities.parquet`` (one row per user: ``user_id``,
``event_timestamp`` — the newest event the data holds — and ``udfs.core.features.AFFINITY_FEATURES``;
what ``adstream interests publish`` materialises), ``rules.csv`` (antecedent, consequent,
support, confidence, lift) and ``summary.json``.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from models.interests import affinities as A
from models.interests import events as E
from models.jsonio import write_json
from udfs.core.features import AFFINITY_FEATURES


def _als(events: pd.DataFrame, column: str, cfg) -> dict[str, list[tuple[str, float]]]:
    if events[column].notna().sum() == 0:
        return {}
    x = A.interactions(events, column, cfg.weights)
    return A.top_unseen(A.fit_als(x, cfg), x, cfg.top_k)


def build(events: pd.DataFrame, cfg, say=lambda _m: None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the affinities table, the rules) of ``events``; ``cfg`` is ``interests``."""
    a = cfg.affinities
    t0 = time.perf_counter()
    cats = _als(events, "category_id", a)
    brands = _als(events, "brand_id", a)
    say(f"ALS over categories and brands: {time.perf_counter() - t0:.1f} s")
    rules = A.association_rules(events, cfg.rules, a.weights)
    say(f"FP-growth: {len(rules)} rules ({time.perf_counter() - t0:.1f} s)")
    onehot = A.baskets(events, a.weights)
    have = {u: set(onehot.columns[row]) for u, row in zip(onehot.index, onehot.to_numpy())}
    users = sorted(set(events["user_id"].astype(str)))
    rows = []
    for u in users:
        by_rule = sorted(A.rule_scores(rules, have.get(u, set())).items(), key=lambda kv: (-kv[1], kv[0]))[: a.top_k]
        c, b = cats.get(u, []), brands.get(u, [])
        rows.append({"user_id": u, "aff_categories": [i for i, _ in c], "aff_category_scores": [s for _, s in c],
                     "aff_brands": [i for i, _ in b], "aff_brand_scores": [s for _, s in b],
                     "rule_categories": [i for i, _ in by_rule], "rule_category_scores": [s for _, s in by_rule]})
    table = pd.DataFrame(rows, columns=["user_id", *[f.name for f in AFFINITY_FEATURES]])
    table.insert(1, "event_timestamp", pd.to_datetime(int(events["ts"].max()), unit="ms", utc=True))
    return table, rules


def run(cfg, args, say) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.data:
        events, source = E.world_events(args.data), f"the synthetic world {args.data}"
    else:
        events, source = E.taobao_events(args.taobao), f"the Taobao sample {args.taobao}"
    say(f"{len(events)} events of {events['user_id'].nunique()} users from {source}")
    table, rules = build(events, cfg.interests, say)
    table.to_parquet(out / "affinities.parquet", index=False)
    rules.assign(antecedent=rules["antecedent"].map(" & ".join),
                 consequent=rules["consequent"].map(" & ".join)).to_csv(out / "rules.csv", index=False)
    write_json(out / "summary.json", {"source": source, "users": len(table), "rules": len(rules),
                                      "top_rules": rules.head(10).assign(
                                          antecedent=rules["antecedent"].head(10).map(list),
                                          consequent=rules["consequent"].head(10).map(list)).to_dict("records")})
    say(f"wrote {out / 'affinities.parquet'} ({len(table)} users), {out / 'rules.csv'} ({len(rules)} rules); "
        f"publish with: adstream interests publish --from {out}")
    return 0
