"""Rescaling the profile job keeps every user's state (issue #16, items 3 and 4).

On the embedded mini-cluster: the job runs at parallelism 1 over the first half of a stream,
is stopped after a checkpoint that holds that half, is resumed from it at parallelism 2, and
reads the second half (with repeats of first-half events). Every user's profile in Redis
must then equal the pure fold of all their events, field by field, and every repeat must be
a duplicate: both only hold if each user's profile and dedupe state reached the subtask that
now owns the user. Keyed by ``hash mod parallelism`` (before issue #16) half the users moved
to a shard whose state was empty, and this test failed. Last, a resume under another
``profile.shards`` is refused with the reason, as the restored shards recorded their number.
The same resume for the scoring job's frequency caps (keyed by user id).
"""
from __future__ import annotations

import json
import time

import pytest

from tests.support.profile_support import click, dead_letters, expected, job_config, landed, publish
from tests.support.jobproc import kill_group, launch
from udfs.io import feast_store

pytestmark = [pytest.mark.integration, pytest.mark.flink, pytest.mark.slow]

USERS, EVENTS, REPEATS = 40, 2000, 20


def newest_checkpoint(root):
    """(number, folder) of the newest completed checkpoint under the job's checkpoint folder,
    (0, None) when there is none. Numbers go on rising in a job restored from a checkpoint."""
    found = [(int(p.parent.name.removeprefix("chk-")), p.parent) for p in root.glob("*/*/chk-*/_metadata")]
    return max(found, default=(0, None))


def wait_for_checkpoints(root, n: int, timeout_s: float = 120) -> None:
    """Until ``n`` more checkpoints completed: with one at a time, the second was triggered
    after this call, so it holds everything processed before it. Only the newest is retained
    (older ones are deleted), hence numbers, not folders, are counted."""
    want, end = newest_checkpoint(root)[0] + n, time.monotonic() + timeout_s
    while newest_checkpoint(root)[0] < want:
        assert time.monotonic() < end, f"fewer than {n} checkpoints completed in {timeout_s} s under {root}"
        time.sleep(0.5)


def stop_after_checkpoints(job, root, n: int = 2):
    """Wait for ``n`` more checkpoints, kill the job; the newest retained checkpoint (it may be
    newer than the ``n``-th, never older: the ``n``-th may already be deleted, subsumed)."""
    wait_for_checkpoints(root, n)
    kill_group(job)
    return newest_checkpoint(root)[1]


def test_resume_at_parallelism_2_keeps_every_users_profile_and_dedupe_state(stack, tmp_path):
    cfg, sets, tag = job_config(stack, tmp_path, **{"flink.restart_attempts": 0})
    users = [f"{tag}-u{i}" for i in range(USERS)]
    # In event-time order: lateness depends on when watermarks travel, which a restart resets.
    events = [click(users[i % USERS], i, i * 0.5, ["view", "cart", "fav", "purchase"][i % 7 % 4],
                    cat=f"c{i % 6}") for i in range(EVENTS)]
    half = EVENTS // 2
    first, second = events[:half], events[half:]
    repeats = first[-REPEATS:]   # event ids the restored dedupe state must know
    reader = feast_store.ProfileReader(cfg)
    root = tmp_path / "ckpt"

    job = launch("profile", sets, log=tmp_path / "p1.log")
    try:
        publish(cfg, [(e.user_id, e.encode().decode()) for e in first])
        want_first = {u: expected([e for e in first if e.user_id == u], cfg) for u in users}
        assert not landed(reader, users, want_first), "the first half never landed at parallelism 1"
        chk = stop_after_checkpoints(job, root)
    finally:
        kill_group(job)

    job = launch("profile", [*sets, "flink.parallelism=2"], "--from-checkpoint", str(chk),
                 log=tmp_path / "p2.log")
    try:
        publish(cfg, [(e.user_id, e.encode().decode()) for e in [*repeats, *second]])
        want = {u: expected([e for e in events if e.user_id == u], cfg) for u in users}
        bad = landed(reader, users, want)
        assert not bad, (f"{len(bad)} of {USERS} users differ from the fold of their events after "
                         f"the rescale (log: {tmp_path / 'p2.log'})", dict(list(bad.items())[:3]))
        dups = {json.loads(d.original)["event_id"] for d in dead_letters(cfg, expect=REPEATS)
                if d.kind == "duplicate"}
        assert dups == {e.event_id for e in repeats}
        chk = stop_after_checkpoints(job, root, 1)
    finally:
        kill_group(job)

    # Another number of shards would move users: the restored shards refuse it, the job fails.
    refused = launch("profile", [*sets, "profile.shards=16"], "--from-checkpoint", str(chk),
                     log=tmp_path / "p3.log")
    try:
        # one event per user, so the restored shards (most of 0..31) get elements and check
        publish(cfg, [(u, click(u, EVENTS + i, EVENTS * 0.5).encode().decode()) for i, u in enumerate(users)])
        assert refused.wait(timeout=180) != 0
    finally:
        kill_group(refused)
    out = (tmp_path / "p3.log").read_text(errors="replace")
    assert "written with profile.shards=32" in out and "--set profile.shards=32" in out, out[-3000:]


def _answer_rounds(c, users, rounds, ts0):
    """One request per user and round (num_ads=1), a round answered before the next is sent, so
    each user's requests are capped in order. Returns {user: [creative of each answer]}."""
    from tests.support import scoring_support as S
    got = {u: [] for u in users}
    for r in rounds:
        ids = {f"{u}-r{r}": u for u in users}
        for rid, u in ids.items():
            c.send(S.request(rid, u, num_ads=1, ts=ts0 + r * 1000), key=u)
        assert c.wait(lambda c: set(ids) <= set(c.by_id()), 180), sorted(set(ids) - set(c.by_id()))[:5]
        for rid, u in ids.items():
            got[u] += [a.creative_id for a in c.by_id()[rid].ads]
    return got


def test_scoring_caps_survive_a_resume_at_parallelism_2(stack, tmp_path):
    """Each campaign and creative at most once per user and hour: two answers per user at
    parallelism 1, a checkpoint, two more after a resume at 2 — four different ads per user.
    Caps state that did not reach the subtask now owning the user would serve crA1 again."""
    from tests.support import scoring_support as S
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    once = "[{window_s: 3600, limit: 1}]"
    # No model: prior-CTR ranking, the CPM bids decide. No feedback job runs, so the job's own
    # answers are all the caps know: they count for the reconcile window (an hour of request time).
    cfg, sets, tag = S.job_config(tmp_path, registry=tmp_path / "models", catalog=cat, **{
        "scoring.campaign_caps": once, "scoring.creative_caps": once,
        "scoring_job.caps_reconcile_ms": 3_600_000, "scoring_job.profile_timeout_ms": 1000})
    users = [f"{tag}-u{i}" for i in range(20)]
    root = tmp_path / "ckpt"
    c = S.Client(cfg)
    try:
        job = launch("scoring", sets, log=tmp_path / "p1.log")
        try:
            before = _answer_rounds(c, users, [0, 1], S.T0)
            chk = stop_after_checkpoints(job, root)
        finally:
            kill_group(job)
        job = launch("scoring", [*sets, "flink.parallelism=2"], "--from-checkpoint", str(chk),
                     log=tmp_path / "p2.log")
        try:
            after = _answer_rounds(c, users, [2, 3], S.T0)
        finally:
            kill_group(job)
    finally:
        c.close()
    for u in users:
        ads = before[u] + after[u]
        assert len(ads) == 4 and len(set(ads)) == 4, (u, before[u], after[u])
    assert {tuple(before[u] + after[u]) for u in users} == {("crA1", "crA2", "crA3", "crB1")}
