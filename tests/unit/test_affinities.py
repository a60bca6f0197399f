"""ALS recovers planted affinities; FP-growth recovers a planted rule; the affinities table."""
import random

import pandas as pd

from models.interests import affinities as A
from models.interests import affinity_cli
from udfs.config.interests import Affinities, Interests, Rules
from udfs.core.features import AFFINITY_FEATURES

WEIGHTS = {"view": 1.0, "fav": 2.0, "cart": 3.0, "purchase": 5.0}


def _planted(seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Two tastes: group A likes a1..a6, group B likes b1..b6. Each user touched 4 of their
    group's 6 categories (and one random noise category): the 2 untouched ones are planted."""
    rng = random.Random(seed)
    rows, hidden = [], {}
    for g in "ab":
        cats = [f"{g}{i}" for i in range(1, 7)]
        for u in range(80):
            uid = f"{g}-{u:03d}"
            seen = rng.sample(cats, 4)
            hidden[uid] = set(cats) - set(seen)
            noise = rng.choice([f"n{i}" for i in range(20)])
            for t, c in enumerate(seen * 3 + [noise]):
                rows.append(dict(user_id=uid, ts=1_000 * (len(rows) + 1), type=rng.choice(["view", "view", "cart"]),
                                 category_id=c, brand_id=None, price=None))
    return pd.DataFrame(rows), hidden


def test_als_ranks_the_planted_untouched_categories_first():
    events, hidden = _planted()
    x = A.interactions(events, "category_id", WEIGHTS)
    top = A.top_unseen(A.fit_als(x, Affinities(factors=4, iterations=20, seed=1)), x, 2)
    hits = sum(len(set(c for c, _ in top[u]) & hidden[u]) for u in hidden)
    assert hits / (2 * len(hidden)) > 0.9            # a random pick of 2 among 22 unseen: ~0.09
    touched = events.groupby("user_id")["category_id"].agg(set)
    assert all(not (set(c for c, _ in top[u]) & touched[u]) for u in hidden)   # never a seen one


def _rule_events(seed: int = 0) -> pd.DataFrame:
    """Whoever buys x1 also views y1 (a planted x1 → y1); everyone else picks at random."""
    rng = random.Random(seed)
    rows = []
    for u in range(300):
        cats = rng.sample([f"r{i}" for i in range(15)], 3)
        if u % 5 == 0:
            cats += ["x1", "y1"]
        elif u % 7 == 0:
            cats += ["y1"]
        for c in cats:
            rows.append(dict(user_id=f"u{u}", ts=len(rows), type="purchase" if c == "x1" else "view",
                             category_id=c, brand_id=None, price=None))
    return pd.DataFrame(rows)


def test_fp_growth_finds_the_planted_rule_with_its_confidence():
    rules = A.association_rules(_rule_events(), Rules(min_support=0.05, min_confidence=0.5, min_lift=2.0), WEIGHTS)
    got = {(r.antecedent, r.consequent): r for r in rules.itertuples()}
    assert (("x1",), ("y1",)) in got
    assert got[(("x1",), ("y1",))].confidence == 1.0 and got[(("x1",), ("y1",))].lift > 2
    assert all(r.lift >= 2.0 and r.confidence >= 0.5 for r in rules.itertuples())
    recommended = A.rule_scores(rules, {"x1"})
    assert recommended["y1"] == 1.0 and "x1" not in recommended     # what the user holds is not recommended


def test_the_affinities_table_has_the_feature_views_columns():
    events, _ = _planted()
    table, _ = affinity_cli.build(events, Interests(affinities=Affinities(factors=4, top_k=3)))
    assert list(table.columns) == ["user_id", "event_timestamp", *[f.name for f in AFFINITY_FEATURES]]
    assert len(table) == events["user_id"].nunique() and table["aff_categories"].map(len).eq(3).all()
    assert table["aff_brands"].map(len).eq(0).all()        # no brands in the data: none made up
