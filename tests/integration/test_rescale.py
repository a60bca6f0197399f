"""Rescaling the profile job keeps every user's state (issue #16, items 3 and 4).

On the embedded mini-cluster: the job runs at parallelism 1 over the first half of a stream,
is stopped after a checkpoint that holds that half, is resumed from it at parallelism 2, and
reads the second half (with repeats of first-half events). Every user's profile in Redis
must then equal the pure fold of all their events, field by field, and every repeat must be
a duplicate: both only hold if each user's profile and dedupe state reached the subtask that
now owns the user. Keyed by ``hash mod parallelism`` (before issue #16) half the users moved
to a shard whose state was empty, and this test failed. Last, a resume under another
``profile.shards`` is refused with the reason, as the restored shards recorded their number.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_profile_job import _same, click, dead_letters, expected, job_config, publish, wait_for
from tests.support.jobproc import kill_group, launch
from udfs.io import feast_store

pytestmark = [pytest.mark.integration, pytest.mark.flink, pytest.mark.slow]

USERS, EVENTS, REPEATS = 40, 2000, 20


def checkpoints(root) -> list:
    """Completed checkpoints under the job's checkpoint folder, oldest first."""
    return sorted(root.glob("*/*/chk-*/_metadata"), key=lambda p: p.stat().st_mtime)


def wait_for_new_checkpoints(root, seen: set, n: int, timeout_s: float = 120):
    """The newest checkpoint once ``n`` completed that were not in ``seen``: with one checkpoint
    at a time, the second one was triggered after the moment ``seen`` was taken."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        new = [p for p in checkpoints(root) if p not in seen]
        if len(new) >= n:
            return new[-1].parent
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} checkpoints completed in {timeout_s} s under {root}")


def landed(reader, users, want, timeout_s: float = 180):
    rows = wait_for(reader, users, lambda r: all(
        r[u]["last_event_ts"] == want[u]["last_event_ts"] and _same(r[u], want[u]) for u in users),
        timeout_s=timeout_s)
    bad = {u: {k: (rows[u][k], w) for k, w in want[u].items() if not _same({k: rows[u][k]}, {k: w})}
           for u in users if not _same(rows[u], want[u])}
    return bad


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
        chk = wait_for_new_checkpoints(root, set(checkpoints(root)), 2)
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
        chk = wait_for_new_checkpoints(root, set(checkpoints(root)), 1)
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
