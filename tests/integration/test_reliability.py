"""One bad record never stops a job (issue #11), on the real stack: Kafka, Redis, PyFlink.

Poison records of each class — a dead letter far over the broker's message size, an
exception inside a step, a null value, 600 invalid catalogue records (whose warnings
used to fill the gateway JVM's unread stderr pipe) — then canaries that must still be
processed or answered, and the job still RUNNING. And a failure that persists ends
the job as FAILED with a clear message instead of restarting forever.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.integration import reliability_support as R
from tests.support import scoring_support as S
from tests.support.jobproc import kill_group, launch
from udfs.io import feast_store
from udfs.messages import DeadLetter

pytestmark = [pytest.mark.integration, pytest.mark.flink]

TEN_YEARS_MS = 10 * 365 * 86_400_000
HUGE = "\x01" * 700_000          # escapes to 4.2 MB in a dead letter (6 bytes a character)


def raw_dead_letters(cfg, done, timeout_s: float = 120) -> list[bytes]:
    """Every record of the dead-letter topic, raw, until ``done(records)`` or the timeout."""
    from kafka import KafkaConsumer
    c = KafkaConsumer(cfg.kafka.topics.dead_letter.name, bootstrap_servers=cfg.kafka.bootstrap,
                      auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                      fetch_max_bytes=8 << 20)
    out, end = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < end and not done(out):
            for recs in c.poll(timeout_ms=500).values():
                out += [r.value for r in recs]
    finally:
        c.close()
    return out


def check_bounded(cfg, raws: list[bytes]) -> list[DeadLetter]:
    assert all(len(r) <= cfg.dead_letter.max_bytes for r in raws), max(len(r) for r in raws)
    return [DeadLetter.decode(r) for r in raws]


def test_scoring_job_survives_poison_of_each_class_and_answers_the_canaries(stack, tmp_path):
    from jobs.scoring import start
    from udfs.io import job_logs
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat)
    c = S.Client(cfg)
    # 600 invalid catalogue records before the start: ~150 KB of warnings during open()
    for i in range(600):
        c.producer.send(cfg.kafka.topics.catalog.name, key=f"creative:bad-{i:04d}-{'x' * 100}".encode(),
                        value=json.dumps({"creative_id": f"bad-{i}", "title": "no campaign"}).encode())
    c.producer.flush()
    client = start(cfg, function=R.FailingScoring)
    try:
        c.send(S.request("warm", f"{tag}-u0"))
        assert c.wait(lambda c: "warm" in c.by_id(), 180), "the job never answered"
        c.send('{"request_id":"huge-1","slot":"' + HUGE + '"}')              # dead letter of 4.2 MB
        c.send(S.request(f"{R.POISON}1", f"{tag}-u1"))                        # the step raises
        c.producer.send(cfg.kafka.topics.ad_requests.name, value=None, key=b"tombstone")   # null value
        c.producer.flush()
        canaries = [S.request(f"canary-{i}", f"{tag}-c{i}") for i in range(5)]
        for r in canaries:
            c.send(r)
        assert c.wait(lambda c: {r.request_id for r in canaries} <= set(c.by_id()), 120), c.by_id().keys()
        assert all(c.by_id()[r.request_id].ads for r in canaries)
        got = c.by_id()[f"{R.POISON}1"]                 # answered, empty and flagged
        assert got.fallback and got.ads == () and "PoisonError" in got.fallback_reason

        dls = check_bounded(cfg, raw_dead_letters(cfg, lambda rs: len(rs) >= 603))
        huge = [d for d in dls if d.original_bytes == len(HUGE) + len('{"request_id":"huge-1","slot":""}')]
        assert len(huge) == 1 and huge[0].kind == "invalid" and huge[0].original_sha256
        assert [d.kind for d in dls if "PoisonError" in d.reason] == ["error"]
        assert [d.field for d in dls if d.field == "<value>"] == ["<value>"]
        assert sum(d.source_topic == cfg.kafka.topics.catalog.name for d in dls) == 600
        assert client.get_job_status().result().name == "RUNNING"
        # the warnings went to the job's own file, not to a pipe
        log = job_logs.paths(cfg, "adstream-scoring")[job_logs.PYTHON].read_text()
        assert log.count("catalogue record 'creative:bad-") >= 600 and "PoisonError" in log
    finally:
        client.cancel().result()
        c.close()


def test_profile_job_survives_poison_of_each_class_and_folds_the_canaries(stack, tmp_path):
    from kafka import KafkaProducer

    from jobs.profile import start
    from tests.integration.test_profile_job import click, expected, job_config, wait_for
    cfg, _, tag = job_config(stack, tmp_path)
    a, b = f"{tag}-a", f"{tag}-b"
    client = start(cfg, function=R.FailingProfile)
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    try:
        topic = cfg.kafka.topics.clicks.name
        good = [click(a, 1, 0), click(a, 3, 20), click(b, 1, 5)]
        p.send(topic, key=a.encode(), value=good[0].encode())
        p.send(topic, key=a.encode(), value=click(a, 2, 10, cat=f"{R.POISON}x").encode())   # fold raises
        # 4.2 MB letter (in a field the dead letter keeps: an identifier's value would be removed)
        p.send(topic, key=b"huge", value=('{"query":"' + HUGE + '"}').encode())
        p.send(topic, key=b"tombstone", value=None)                                         # null value
        ahead = click(a, 9, 0, ts=int(time.time() * 1000) + TEN_YEARS_MS)                   # wrong clock
        p.send(topic, key=a.encode(), value=ahead.encode())
        p.flush()
        time.sleep(1.5)   # the watermark is emitted in between: it must not have moved to 2036
        for e in good[1:]:
            p.send(topic, key=e.user_id.encode(), value=e.encode())
        p.flush()
        reader = feast_store.ProfileReader(cfg)
        want_a, want_b = expected(good[:2], cfg), expected(good[2:], cfg)
        rows = wait_for(reader, [a, b], lambda r: r[a]["last_event_ts"] == want_a["last_event_ts"]
                        and r[b]["last_event_ts"] == want_b["last_event_ts"], timeout_s=150)
        assert rows[a]["cnt_view_24h"] == want_a["cnt_view_24h"] == 2       # the poison event is not in
        assert rows[b]["cnt_view_24h"] == 1

        dls = check_bounded(cfg, raw_dead_letters(cfg, lambda rs: len(rs) >= 4))
        kinds = sorted((d.kind, d.field) for d in dls)
        assert kinds == [("error", None), ("future", "ts"), ("invalid", "<payload>"), ("invalid", "<value>")], kinds
        assert "PoisonError" in next(d.reason for d in dls if d.kind == "error")
        huge = next(d for d in dls if d.field == "<payload>")
        assert huge.original_bytes == len(HUGE) + len('{"query":""}') and huge.original_sha256
        assert client.get_job_status().result().name == "RUNNING"
    finally:
        p.close()
        client.cancel().result()


def test_a_persistent_failure_ends_the_job_failed_with_its_reason(stack, tmp_path):
    """The catalogue topic does not exist: open() fails on every attempt. Bounded restarts, then
    the CLI says RESTARTING, then FAILED with the cause, and exits 1 (it used to say 'running')."""
    registry = tmp_path / "models"
    registry.mkdir()
    cfg, sets, tag = S.job_config(tmp_path, registry=registry, catalog=None)
    sets += [f"kafka.topics.catalog.name=missing-{tag}", "flink.restart_attempts=1",
             "flink.restart_delay_ms=200", "flink.status_poll_ms=100"]
    log = tmp_path / "job.log"
    job = launch("scoring", sets, log=log)
    try:
        code = job.wait(timeout=240)
    finally:
        kill_group(job)
    out = log.read_text()
    assert code == 1, out[-2000:]
    assert "RESTARTING" in out and "scoring job FAILED" in out, out[-2000:]
    assert f"topic 'missing-{tag}' does not exist" in out.split("scoring job FAILED", 1)[1], out[-2000:]


def test_profiles_lost_from_the_online_store_are_written_again_from_flink_state(stack, tmp_path):
    """Redis restarted empty (or flushed): idle users send nothing more, yet their profiles
    come back within the repair check, from the job's state, with the versions they had."""
    import redis
    from kafka import KafkaProducer

    from jobs.profile import JOB, start
    from tests.integration.test_profile_job import click, expected, job_config, wait_for
    # One shard, so the test's users and the marker it watches are shard 0's.
    cfg, _, tag = job_config(stack, tmp_path, **{"profile.repair_check_ms": 500, "profile.shards": 1})
    users = [f"{tag}-idle{i}" for i in range(5)]
    events = {u: [click(u, 1, 0), click(u, 2, 30, "cart")] for u in users}
    client = start(cfg)
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    try:
        for u, evs in events.items():
            for e in evs:
                p.send(cfg.kafka.topics.clicks.name, key=u.encode(), value=e.encode())
        p.flush()
        reader = feast_store.ProfileReader(cfg)
        want = {u: expected(evs, cfg) for u, evs in events.items()}
        done = (lambda rows: all(rows[u]["last_event_ts"] == want[u]["last_event_ts"] for u in users))
        assert done(wait_for(reader, users, done, timeout_s=120))
        r = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db)
        marker = feast_store.OnlineMarker(cfg, JOB, cfg.kafka.topics.clicks.name)
        end = time.monotonic() + 10          # the first check (every 500 ms) sets the marker
        while not marker.present(0) and time.monotonic() < end:
            time.sleep(0.2)
        assert marker.present(0)
        # What a restart without persistence leaves: neither the profiles nor the marker.
        writer = feast_store.RedisProfileWriter(cfg)
        assert r.delete(*[writer._key(u) for u in users], marker.key(0)) == len(users) + 1
        assert all(row["last_event_ts"] is None for row in reader.read_all(users))
        t0 = time.monotonic()
        rows = wait_for(reader, users, done, timeout_s=30)
        took = time.monotonic() - t0
        assert done(rows), rows
        for u in users:
            assert {k: rows[u][k] for k in want[u]} == want[u]
        assert took < 10, took
        assert marker.present(0)
    finally:
        p.close()
        client.cancel().result()
