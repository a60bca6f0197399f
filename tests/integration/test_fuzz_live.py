"""A hypothesis-drawn sample of malformed records through each live job (real Kafka, Redis,
PyFlink): every one ends as exactly one dead letter, the canaries after them are processed,
and the job is still RUNNING. The decoder-level properties over many more inputs are
tests/unit/test_messages_fuzz.py's; this checks that what the decoder rejects is also what
the running job dead-letters — nothing dropped, nothing doubled, nothing crashing a task."""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_reliability import check_bounded, raw_dead_letters
from tests.support import scoring_support as S
from tests.support.malformed import rejected_sample
from udfs.messages.examples import EXAMPLES
from udfs.io import feast_store
from udfs.messages import AdRequest, ClickEvent

pytestmark = [pytest.mark.integration, pytest.mark.flink]

N = 150


def _settle(cfg, want: int) -> list:
    """The topic's dead letters once ``want`` arrived, plus 3 s for any extra to show."""
    raw_dead_letters(cfg, lambda rs: len(rs) >= want, timeout_s=120)
    time.sleep(3)
    return check_bounded(cfg, raw_dead_letters(cfg, lambda rs: False, timeout_s=5))


def test_profile_job_dead_letters_every_malformed_click_once_and_goes_on(stack, tmp_path):
    from kafka import KafkaProducer

    from jobs.profile import start
    from tests.integration.test_profile_job import click, expected, job_config, wait_for
    cfg, _, tag = job_config(stack, tmp_path)
    sample = rejected_sample(ClickEvent, json.loads(EXAMPLES[ClickEvent].encode()), N)
    assert len(sample) == N
    client = start(cfg)
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    try:
        topic = cfg.kafka.topics.clicks.name
        for raw in sample:
            p.send(topic, key=b"fuzz", value=raw)
        canaries = [click(f"{tag}-c{i}", i, i) for i in range(5)]
        for e in canaries:
            p.send(topic, key=e.user_id.encode(), value=e.encode())
        p.flush()
        reader = feast_store.ProfileReader(cfg)
        users = [e.user_id for e in canaries]
        want = {e.user_id: expected([e], cfg) for e in canaries}
        rows = wait_for(reader, users, lambda r: all(r[u]["last_event_ts"] == want[u]["last_event_ts"]
                                                     for u in users), timeout_s=150)
        assert all(rows[u]["cnt_view_24h"] == 1 for u in users), rows
        dls = _settle(cfg, N)
        assert len(dls) == N, (len(dls), sorted({d.reason[:60] for d in dls})[:20])
        assert all(d.source_topic == topic and d.kind in ("invalid", "future") for d in dls)
        assert client.get_job_status().result().name == "RUNNING"
    finally:
        p.close()
        client.cancel().result()


def test_scoring_job_dead_letters_every_malformed_request_once_and_answers_the_canaries(stack, tmp_path):
    from jobs.scoring import start
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat,
                               **{"scoring_job.profile_timeout_ms": 1000})
    sample = rejected_sample(AdRequest, json.loads(EXAMPLES[AdRequest].encode()), N)
    assert len(sample) == N
    c = S.Client(cfg)
    client = start(cfg)
    try:
        c.send(S.request("warm", f"{tag}-u0"))
        assert c.wait(lambda c: "warm" in c.by_id(), 180), "the job never answered"
        for raw in sample:
            c.producer.send(cfg.kafka.topics.ad_requests.name, key=b"fuzz", value=raw)
        canaries = [S.request(f"canary-{i}", f"{tag}-c{i}") for i in range(5)]
        for r in canaries:
            c.send(r)
        assert c.wait(lambda c: {r.request_id for r in canaries} <= set(c.by_id()), 120)
        assert all(c.by_id()[r.request_id].ads for r in canaries)
        dls = _settle(cfg, N)
        assert len(dls) == N, (len(dls), sorted({d.reason[:60] for d in dls})[:20])
        assert all(d.source_topic == cfg.kafka.topics.ad_requests.name and d.kind in ("invalid", "future")
                   for d in dls)
        assert client.get_job_status().result().name == "RUNNING"
    finally:
        client.cancel().result()
        c.close()
