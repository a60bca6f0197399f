"""The evaluation's list building and target choice; the Taobao reader on the shared sample."""
import pandas as pd

from models.interests import evaluate_taobao as T
from models.interests import events as E
from tests.support.shared_data import shared_dataset


def test_merge_takes_each_lists_share_then_fills_in_order_without_repeats():
    mine = [f"i{k}" for k in range(12)]
    assert T._merge((mine, 7), (["a1", "i0", "a2", "a3", "a4"], 3)) == mine[:7] + ["a1", "a2", "a3"]
    # a short profile leaves room: the affinities fill it
    assert T._merge((["i0"], 7), (["a1", "a2"], 3), (["r1"], 3)) == ["i0", "a1", "a2", "r1"]
    assert len(T._merge((mine, 4), (["a1"], 3), (["r1", "r2"], 3))) == T.K


def test_a_target_is_the_first_cart_or_purchase_after_the_split():
    ev = pd.DataFrame([dict(user_id="u", ts=5, type="purchase", category_id="early"),
                       dict(user_id="u", ts=10, type="view", category_id="v"),
                       dict(user_id="u", ts=12, type="cart", category_id="first"),
                       dict(user_id="u", ts=15, type="purchase", category_id="second"),
                       dict(user_id="w", ts=11, type="view", category_id="v")])
    tg = T.targets(ev, split_ts=10)
    assert tg.to_dict("records") == [dict(user_id="u", ts=12, category_id="first")]


def test_taobao_sample_reads_as_the_clickstream_types_within_its_window():
    path = shared_dataset("taobao_userbehavior", "UserBehavior_head84k.csv")   # skips when absent
    ev = E.taobao_events(path)
    # SOURCE.txt: 84,475 rows of which 35 fall outside the official 9-day window
    assert len(ev) == 84_475 - 35 and ev["user_id"].nunique() == 815
    assert set(ev["type"]) == {"view", "fav", "cart", "purchase"}
    assert ev["ts"].is_monotonic_increasing and ev["brand_id"].isna().all()
