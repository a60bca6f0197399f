"""Collaborative affinities (implicit ALS) and association rules between categories (FP-growth).

Affinities: a user × item matrix of weighted interaction counts (an item is a category or a
brand; the weight of an event is ``interests.affinities.weights[type]``), factorised by
``implicit``'s alternating least squares for implicit feedback (confidence ``1 + alpha·count``).
Each user's affinities are the ``top_k`` items by the factor model's score *among those they
have not interacted with*: cross-sell, not a repeat of what the profile already holds.

Rules: each user's basket is the set of categories they interacted with; ``mlxtend``'s
FP-growth finds the frequent itemsets and the rules ``X → Y`` above the configured support,
confidence and lift. ``rule_scores`` turns them into "bought X → show Y" recommendations for a
user: each consequent scored by the best confidence of a rule whose antecedent the user has.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class Interactions:
    users: np.ndarray           # user ids, row order
    items: np.ndarray           # item ids, column order
    matrix: sp.csr_matrix       # users × items, weighted counts


def interactions(events: pd.DataFrame, column: str, weights) -> Interactions:
    """Weighted counts of ``events`` (user_id, type, ``column``) by user and item; rows and columns
    in sorted id order, events with no item or a zero weight left out."""
    w = events["type"].map(lambda t: weights.get(t, 0.0)).astype(np.float64)
    keep = events[column].notna() & (w > 0)
    df = pd.DataFrame({"u": events.loc[keep, "user_id"].astype(str), "i": events.loc[keep, column].astype(str),
                       "w": w[keep]})
    users = np.array(sorted(df["u"].unique()), dtype=object)
    items = np.array(sorted(df["i"].unique()), dtype=object)
    rows = pd.Index(users).get_indexer(df["u"])
    cols = pd.Index(items).get_indexer(df["i"])
    m = sp.csr_matrix((df["w"].to_numpy(), (rows, cols)), shape=(len(users), len(items)))
    m.sum_duplicates()
    return Interactions(users, items, m)


def fit_als(x: Interactions, cfg):
    """The ALS model of ``x`` (``cfg``: ``interests.affinities``); one thread: the box is shared,
    and the result does not depend on the thread count."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits
    # implicit parallelises itself; a BLAS thread pool under it only contends (its own warning)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=cfg.factors, regularization=cfg.regularization, alpha=cfg.alpha,
                                        iterations=cfg.iterations, random_state=cfg.seed, num_threads=1)
        model.fit(x.matrix, show_progress=False)
    return model


def top_unseen(model, x: Interactions, k: int) -> dict[str, list[tuple[str, float]]]:
    """Per user: the ``k`` best-scored items the user has no interaction with, best first."""
    n = min(k, max(len(x.items) - 1, 1))
    ids, scores = model.recommend(np.arange(len(x.users)), x.matrix, N=n, filter_already_liked_items=True)
    out = {}
    for u, row_ids, row_scores in zip(x.users, ids, scores):
        out[str(u)] = [(str(x.items[i]), round(float(s), 6)) for i, s in zip(row_ids, row_scores)
                       if i >= 0 and np.isfinite(s)]
    return out


def baskets(events: pd.DataFrame, weights) -> pd.DataFrame:
    """One row per user, one boolean column per category: did the user interact with it."""
    w = events["type"].map(lambda t: weights.get(t, 0.0))
    df = events[events["category_id"].notna() & (w > 0)]
    onehot = pd.crosstab(df["user_id"].astype(str), df["category_id"].astype(str)) > 0
    return onehot.sort_index().sort_index(axis=1)


def association_rules(events: pd.DataFrame, cfg, weights) -> pd.DataFrame:
    """Rules ``antecedent → consequent`` between categories: columns antecedent, consequent (tuples
    of category ids), support, confidence, lift; best lift first, at most ``cfg.max_rules``."""
    from mlxtend.frequent_patterns import association_rules as mine_rules
    from mlxtend.frequent_patterns import fpgrowth
    cols = ["antecedent", "consequent", "support", "confidence", "lift"]
    onehot = baskets(events, weights)
    n_baskets = len(onehot)
    onehot = onehot.loc[:, onehot.mean(axis=0) >= cfg.min_support]   # an infrequent category is in no rule
    if onehot.empty:
        return pd.DataFrame(columns=cols)
    frequent = fpgrowth(onehot, min_support=cfg.min_support, use_colnames=True, max_len=cfg.max_len)
    if len(frequent) == 0 or frequent["itemsets"].map(len).max() < 2:
        return pd.DataFrame(columns=cols)
    rules = mine_rules(frequent, num_itemsets=n_baskets, metric="confidence", min_threshold=cfg.min_confidence,
                       return_metrics=["support", "confidence", "lift"])
    rules = rules[rules["lift"] >= cfg.min_lift]
    out = pd.DataFrame({"antecedent": rules["antecedents"].map(lambda s: tuple(sorted(s))),
                        "consequent": rules["consequents"].map(lambda s: tuple(sorted(s))),
                        "support": rules["support"].round(6), "confidence": rules["confidence"].round(6),
                        "lift": rules["lift"].round(6)})
    out = out.sort_values(["lift", "confidence", "antecedent", "consequent"],
                          ascending=[False, False, True, True], kind="stable")
    return out.head(cfg.max_rules).reset_index(drop=True)


def rule_scores(rules: pd.DataFrame, have: set[str]) -> dict[str, float]:
    """Categories the rules recommend to a user holding ``have``: consequent → the best
    confidence among rules whose whole antecedent is in ``have``; categories in ``have`` left out."""
    out: dict[str, float] = {}
    for ante, cons, conf in zip(rules["antecedent"], rules["consequent"], rules["confidence"]):
        if set(ante) <= have:
            for c in cons:
                if c not in have and conf > out.get(c, 0.0):
                    out[c] = float(conf)
    return out
