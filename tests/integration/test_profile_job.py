"""The profile job on the real stack: Kafka → PyFlink → Feast (Redis), plus the dead-letter topic.

Each test uses its own topics, checkpoint folder and user-id prefix, so tests never
read each other's records or profiles.
"""
from __future__ import annotations

import collections
import json
import time

import pytest

from tests.support.jobproc import kill_group, launch
from tests.support.profile_support import (T0, _same, click, dead_letters, expected,  # noqa: F401 (shared)
                                           job_config, publish, wait_for)
from udfs.io import feast_store

pytestmark = [pytest.mark.integration, pytest.mark.flink]

def test_known_sequence_lands_exactly_in_feast_and_bad_input_in_dead_letters(stack, tmp_path):
    from jobs.profile import start
    from udfs.core.keywords import KeywordMap
    from udfs.io import keyword_map
    kmap = keyword_map.save(KeywordMap({"shoes": (("c_shoes", 0.8), ("c_socks", 0.2))}, {"shoes": 2.0}),
                            tmp_path / "keywords.json")
    cfg, _, tag = job_config(stack, tmp_path, **{"profile.keyword_map": f"file://{kmap}"})
    a, b = f"{tag}-a", f"{tag}-b"
    first = [click(a, 1, 0), click(a, 2, 30, "cart", cat="c2"), click(a, 3, 60, "purchase"),
             click(b, 1, 10, "search", query="red shoes", item_id=None, cat=None),
             click(a, 4, 600, "view", cat="c2")]
    tried = [(a, e.encode().decode()) for e in first] + [
        (a, first[0].encode().decode()),                                 # duplicate event_id
        (b, "{not json"),                                                # malformed
        (b, json.dumps({"schema": "clickstream", "v": 1, "event_id": "x", "user_id": b,
                        "ts": T0, "type": "teleport"})),                 # invalid field
    ]
    client = start(cfg)
    try:
        publish(cfg, tried)
        reader = feast_store.ProfileReader(cfg)
        want_a, want_b = expected(first[:3] + first[4:], cfg), expected(first[3:4], cfg)
        rows = wait_for(reader, [a, b], lambda r: r[a]["last_event_ts"] == want_a["last_event_ts"]
                        and r[b]["last_event_ts"] == want_b["last_event_ts"])
        # exact values as Feast returns them (hand-checked figures first, then every feature)
        assert rows[a]["cnt_view_10m"] == 1 and rows[a]["cnt_view_1h"] == 2
        assert rows[a]["cnt_cart_1h"] == 1 and rows[a]["cnt_purchase_24h"] == 1
        assert rows[a]["total_spend"] == pytest.approx(13.0) and rows[a]["cart_to_purchase"] == 1.0
        assert rows[b]["cnt_search_10m"] == 1 and rows[b]["top_categories"] == []
        # the search folded through the map the job loaded (file:// URI) into search intent
        assert rows[b]["top_search_categories"] == ["c_shoes", "c_socks"]
        assert rows[b]["top_search_scores"] == pytest.approx([1.6, 0.4])
        assert rows[b]["top_search_keywords"] == ["red", "shoes"]
        for uid, want in ((a, want_a), (b, want_b)):
            got = {k: v for k, v in rows[uid].items() if k != "user_id"}
            assert _same(got, want), (uid, got, want)

        # a late event: behind the watermark (10 min ahead now) by more than the allowed lateness
        time.sleep(1.5)  # let the watermark of the first records reach the SQL operator
        late = click(a, 5, -300)
        publish(cfg, [(a, late.encode().decode())])
        dls = dead_letters(cfg, expect=4)
        kinds = collections.Counter(d.kind for d in dls)
        assert kinds == {"duplicate": 1, "invalid": 2, "late": 1}, dls
        invalid = {d.field for d in dls if d.kind == "invalid"}
        assert invalid == {"<payload>", "type"}
        assert all(d.source_topic == cfg.kafka.topics.clicks.name and d.reason for d in dls)
        # and the late event changed nothing
        assert reader.read_all([a])[0]["cnt_view_24h"] == want_a["cnt_view_24h"]
    finally:
        client.cancel().result()






@pytest.mark.slow
def test_kill_and_resume_from_checkpoint_equals_an_uninterrupted_run(stack, tmp_path):
    """Tried: SIGKILL mid-stream after a checkpoint, restart with --resume, more events after.

    The Feast values must equal those of an uninterrupted run over the same records
    (written to another Redis db), i.e. no update lost and none applied twice.
    """
    cfg, sets, tag = job_config(stack, tmp_path / "a", **{"redis.db": 1})
    users = [f"{tag}-u{i}" for i in range(20)]
    # In event-time order: lateness depends on when watermarks travel, which a restart resets.
    events = [click(users[i % 20], i, i * 0.5, ["view", "cart", "fav", "purchase"][i % 7 % 4],
                    cat=f"c{i % 6}") for i in range(2000)]
    lines = [(e.user_id, e.encode().decode()) for e in events]

    job = launch("profile", sets)
    try:
        publish(cfg, lines[:1200])
        ckpt_root = tmp_path / "a" / "ckpt"
        end = time.monotonic() + 120
        while time.monotonic() < end and not list(ckpt_root.glob("*/*/chk-*/_metadata")):
            time.sleep(0.5)
        assert list(ckpt_root.glob("*/*/chk-*/_metadata")), "no checkpoint completed before the kill"
    finally:
        kill_group(job)
    publish(cfg, lines[1200:])                     # arrives while the job is down
    job = launch("profile", sets, "--resume")
    try:
        reader = feast_store.ProfileReader(cfg)
        want = {u: expected([e for e in events if e.user_id == u], cfg) for u in users}
        rows = wait_for(reader, users, lambda r: all(
            r[u]["cnt_view_24h"] is not None and r[u]["last_event_ts"] == want[u]["last_event_ts"]
            and _same(r[u], want[u]) for u in users), timeout_s=150)
    finally:
        kill_group(job)
    # the reference: an uninterrupted run over the same records into another Redis db
    ref_cfg, ref_sets, _ = job_config(stack, tmp_path / "b", **{"redis.db": 2})
    publish(ref_cfg, lines)
    ref = launch("profile", ref_sets)
    try:
        ref_rows = wait_for(feast_store.ProfileReader(ref_cfg), users, lambda r: all(
            r[u]["last_event_ts"] == want[u]["last_event_ts"] and _same(r[u], want[u]) for u in users),
            timeout_s=150)
    finally:
        kill_group(ref)
    for u in users:
        assert _same(rows[u], want[u]), (u, {k: (rows[u][k], w) for k, w in want[u].items()
                                             if not _same({k: rows[u][k]}, {k: w})})
        assert {k: v for k, v in rows[u].items()} == {k: v for k, v in ref_rows[u].items()}


@pytest.mark.slow
def test_taobao_replay_counts_equal_pandas(stack, tmp_path):
    """Every user's windowed counts after replaying the real Taobao sample, vs pandas on the file."""
    import pandas as pd
    from scripts.cli.replay import replay_messages, taobao_records
    from tests.support.shared_data import shared_dataset
    from udfs.core.features import count_feature
    path = shared_dataset("taobao_userbehavior", "UserBehavior_head84k.csv")
    # The sample states no consent (its records carry none): read as opt-out for its geo, or
    # the opt-in default would profile nobody (docs/privacy.md, "Replaying public datasets").
    cfg, _, _ = job_config(stack, tmp_path, **{"privacy.consent.geos": "{CN: opt_out}"})
    from jobs.profile import start
    client = start(cfg)
    try:
        replay_messages(cfg, taobao_records(cfg, path, order="time"))
        df = pd.read_csv(path, header=None, names=["user", "item", "cat", "behavior", "ts"])
        df["type"] = df["behavior"].map({"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"})
        df["ts"] = df["ts"] * 1000
        last = df.groupby("user")["ts"].transform("max")
        want = {}
        for w in cfg.profile.windows.count_windows_s:
            inside = df[df["ts"] > last - w * 1000]
            counts = inside.groupby(["user", "type"]).size()
            for (u, t), n in counts.items():
                want[(f"tb-u{u}", count_feature(t, w))] = int(n)
        users = sorted(f"tb-u{u}" for u in df["user"].unique())  # the replayer's id mapping
        reader = feast_store.ProfileReader(cfg)
        last_ts = df.groupby("user")["ts"].max()
        rows = wait_for(reader, users, lambda r: all(
            r[u]["last_event_ts"] == int(last_ts[int(u[4:])]) for u in users), timeout_s=240)
        cols = [count_feature(t, w) for w in cfg.profile.windows.count_windows_s
                for t in ("view", "cart", "fav", "purchase")]
        mismatches = [(u, c, rows[u][c], want.get((u, c), 0)) for u in users for c in cols
                      if rows[u][c] != want.get((u, c), 0)]
        assert len(users) == 815 and not mismatches, mismatches[:10]
    finally:
        client.cancel().result()
