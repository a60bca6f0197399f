"""Frequency caps on impressions, in the scoring job on the real stack (Kafka, Redis, PyFlink).

What the user has seen comes from the online store (written here with the feedback job's
``SeenWriter``, read in the profile's own HMGET); answers not yet seen as impressions are
counted from the job's own state for ``scoring_job.caps_reconcile_ms`` (the race)."""
from __future__ import annotations

import pytest

from tests.support import scoring_support as S
from udfs.core import seen
from udfs.io.seen_store import SeenWriter

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def ads_of(c, rid):
    return [a.creative_id for a in c.by_id()[rid].ads]


def test_caps_count_what_was_seen_and_the_answers_not_yet_seen(stack, tmp_path):
    from jobs.scoring import start
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    # creative cap 3 per hour; no model: prior-CTR ranking, CPM bids decide (crA1 first)
    cfg, _, tag = S.job_config(tmp_path, registry=tmp_path / "models", catalog=cat,
                               **{"scoring_job.caps_reconcile_ms": 2000,
                                  "scoring_job.profile_timeout_ms": 1000})
    saw3, saw2, racer = f"{tag}-saw3", f"{tag}-saw2", f"{tag}-race"
    t = S.T0
    SeenWriter(cfg).write([
        (saw3, seen.encode({f"creative|{saw3}|crA1": [t - 30_000, t - 20_000, t - 10_000]}), t - 10_000),
        (saw2, seen.encode({f"creative|{saw2}|crA1": [t - 30_000, t - 20_000]}), t - 20_000)])
    client, c = start(cfg), S.Client(cfg)
    try:
        c.send(S.request("saw3", saw3, ts=t))
        c.send(S.request("saw2", saw2, ts=t))
        assert c.wait(lambda c: {"saw3", "saw2"} <= set(c.by_id()), 120), c.dead
        assert "crA1" not in ads_of(c, "saw3")          # seen 3 times within the hour
        assert ads_of(c, "saw2")[0] == "crA1"            # seen twice: one more is allowed
        # the race: answers whose impressions have not landed (nothing stored for this user)
        for i in range(4):
            c.send(S.request(f"race-{i}", racer, ts=t + i * 100))
            assert c.wait(lambda c: f"race-{i}" in c.by_id(), 60)
        assert [("crA1" in ads_of(c, f"race-{i}")) for i in range(4)] == [True, True, True, False]
        # past the reconcile window the store is believed: those answers were never shown
        c.send(S.request("race-later", racer, ts=t + 2500))
        assert c.wait(lambda c: "race-later" in c.by_id(), 60)
        assert ads_of(c, "race-later")[0] == "crA1"
    finally:
        client.cancel().result()
        c.close()
