"""The feedback loop's state in the scoring job, on the real stack (Kafka, Redis, PyFlink).

Written here with the feedback job's own writers, read by the scoring job:
- caps on impressions: what the user has seen (``SeenWriter``, read in the profile's HMGET);
  answers not yet seen as impressions count from the job's own state for
  ``scoring_job.caps_reconcile_ms`` (the race);
- budgets from spend and CTR priors from the ad statistics (``AdStatsWriter``)."""
from __future__ import annotations

import pytest

from tests.support import scoring_support as S
from udfs.core import seen
from udfs.io.seen_store import SeenWriter

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def ads_of(c, rid):
    return [a.creative_id for a in c.by_id()[rid].ads]


# Its own Redis db: what these tests write (spend that exhausts cA1, a CTR prior for crD2) is
# about the crafted catalogue's ids, which other scoring tests rank exactly.
DB = {"redis.db": 3}


def start_job(cfg):
    from jobs.scoring import start
    return start(cfg)


def test_caps_count_what_was_seen_and_the_answers_not_yet_seen(stack, tmp_path):
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    # creative cap 3 per hour; no model: prior-CTR ranking, CPM bids decide (crA1 first)
    cfg, _, tag = S.job_config(tmp_path, registry=tmp_path / "models", catalog=cat,
                               **DB, **{"scoring_job.caps_reconcile_ms": 2000,
                                  "scoring_job.profile_timeout_ms": 1000})
    saw3, saw2, racer = f"{tag}-saw3", f"{tag}-saw2", f"{tag}-race"
    t = S.T0
    SeenWriter(cfg).write([
        (saw3, seen.encode({f"creative|{saw3}|crA1": [t - 30_000, t - 20_000, t - 10_000]}), t - 10_000),
        (saw2, seen.encode({f"creative|{saw2}|crA1": [t - 30_000, t - 20_000]}), t - 20_000)])
    client, c = start_job(cfg), S.Client(cfg)
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


def test_a_spent_campaign_stops_being_served_and_ctr_priors_are_read(stack, tmp_path):
    import time

    from udfs.core import ad_stats
    from udfs.core.attributed import Attributed
    from udfs.io.ad_stats_store import AdStatsWriter
    from udfs.core.budget import utc_day
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=tmp_path / "models", catalog=cat,
                               **DB, **{"scoring_job.profile_timeout_ms": 1000, "scoring_job.stats_poll_ms": 200})
    params = ad_stats.StatsParams.from_config(cfg)
    import redis
    redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db).flushdb()   # a rerun starts clean
    client, c = start_job(cfg), S.Client(cfg)
    try:
        c.send(S.request("before", f"{tag}-u0"))
        assert c.wait(lambda c: "before" in c.by_id(), 120), c.dead
        assert ads_of(c, "before")[0] == "crA1"            # cA1: the highest CPM bid, budget 100
        st = ad_stats.CampaignStats()
        now = time.time_ns() // 1_000_000   # spend is booked on the day the answers were shown: today
        for i in range(2):   # two CPM impressions charged 60 each: 120 > the daily budget of 100
            ad_stats.apply(st, Attributed("impression", f"i{i}", now - 1000, "cA1", "crA1", "CPM", 60.0), params)
        camp, crs = ad_stats.snapshot(st, params)
        assert camp["spend_day"] == utc_day(now)
        written = time.monotonic()
        AdStatsWriter(cfg).write({"cA1": camp}, crs, now)
        for i in range(100):
            c.send(S.request(f"after-{i}", f"{tag}-u{i + 1}"))
            assert c.wait(lambda c: f"after-{i}" in c.by_id(), 30)
            if "crA1" not in ads_of(c, f"after-{i}"):
                break
            time.sleep(0.1)
        assert "crA1" not in ads_of(c, f"after-{i}"), "the spent campaign is still served"
        print(f"budget stop visible after {time.monotonic() - written:.2f} s")
        assert time.monotonic() - written < 10
        # a CPC creative with a strong click history: its CTR prior (no model: prior-CTR ranking)
        # lifts it to the top — 0.2 x (60 + 100 x 0.01) / (100 + 100) x 1000 = 61 eCPM > 4
        st = ad_stats.CampaignStats()
        for i in range(100):
            ad_stats.apply(st, Attributed("impression", f"d{i}", S.T0 - 1000, "cD2", "crD2", "CPC", 0.0), params)
        for i in range(60):
            ad_stats.apply(st, Attributed("click", f"k{i}", S.T0 - 500, "cD2", "crD2", "CPC", 0.0), params)
        camp, crs = ad_stats.snapshot(st, params)
        assert crs["crD2"]["ctr_prior"] == pytest.approx(61 / 200)
        AdStatsWriter(cfg).write({"cD2": camp}, crs, S.T0)
        from udfs.io.ad_stats_store import AdStatsReader
        got, _ = AdStatsReader(cfg, socket_timeout_ms=1000).read(["crD2"], [])   # what the scorer reads
        assert (got["crD2"]["impressions_total"], got["crD2"]["clicks_total"]) == (100, 60)
        for j in range(100):
            c.send(S.request(f"prior-{j}", f"{tag}-p{j}"))
            assert c.wait(lambda c: f"prior-{j}" in c.by_id(), 30)
            if ads_of(c, f"prior-{j}")[:1] == ["crD2"]:
                break
            time.sleep(0.1)
        top = c.by_id()[f"prior-{j}"].ads[0]
        assert top.creative_id == "crD2" and top.pctr == pytest.approx(61 / 200)
    finally:
        client.cancel().result()
        c.close()


def test_a_campaign_ahead_of_its_pacing_curve_sits_out_most_requests(stack, tmp_path):
    """Pacing in the job: spend 99.9 of 100 booked today, a curve whose whole weight is in the
    day's last hour (so 'now' is ahead of it but for the day's last seconds), tolerance 0: the
    pacer throttles cA1 to its floor rate (0.2) within a few statistics reads, while its budget
    still has 0.1 left (so the budget alone would keep serving it)."""
    import time

    import redis

    from udfs.core import ad_stats
    from udfs.core.attributed import Attributed
    from udfs.io.ad_stats_store import AdStatsWriter
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=tmp_path / "models", catalog=cat, **DB, **{
        "scoring_job.profile_timeout_ms": 1000, "scoring_job.stats_poll_ms": 200,
        "scoring.pacing.curve": "[" + ", ".join(["0"] * 23 + ["1"]) + "]",
        "scoring.pacing.tolerance": 0, "scoring.pacing.step": 0.5, "scoring.pacing.min_rate": 0.2})
    redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db).flushdb()
    params = ad_stats.StatsParams.from_config(cfg)
    now = time.time_ns() // 1_000_000
    st = ad_stats.CampaignStats()
    ad_stats.apply(st, Attributed("impression", "i0", now - 1000, "cA1", "crA1", "CPM", 99.9), params)
    camp, crs = ad_stats.snapshot(st, params)
    AdStatsWriter(cfg).write({"cA1": camp}, crs, now)
    client, c = start_job(cfg), S.Client(cfg)
    try:
        c.send(S.request("first", f"{tag}-u0"))
        assert c.wait(lambda c: "first" in c.by_id(), 120), c.dead
        time.sleep(2.0)                        # ten statistics reads: the rate is at its floor
        ids = [f"paced-{i}" for i in range(100)]
        for i, rid in enumerate(ids):
            c.send(S.request(rid, f"{tag}-q{i}"))
        assert c.wait(lambda c: set(ids) <= set(c.by_id()), 60), c.dead
    finally:
        client.cancel().result()
        c.close()
    with_a1 = sum("crA1" in ads_of(c, rid) for rid in ids)
    assert 5 <= with_a1 <= 40, with_a1         # ~20 of 100 (Binomial(100, 0.2)); unpaced it is 100
    assert all(ads_of(c, rid) for rid in ids)     # sitting out leaves the others to fill the slots
