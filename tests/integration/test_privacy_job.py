"""Consent on the real stack (Kafka + PyFlink + Redis): an opted-out user's events leave nothing
in Redis, and a user who withdraws consent has their profile and stored caps removed from Redis
(docs/privacy.md)."""
from __future__ import annotations

import time

import pytest

from tests.integration.test_profile_job import click, job_config, publish, wait_for
from udfs.core.features import ENTITY_KEY
from udfs.io import feast_store
from udfs.io.feast_values import redis_key
from udfs.messages import Consent

pytestmark = pytest.mark.integration

NO = Consent(personalisation=False, measurement=True)


def _hash(cfg, user: str) -> dict:
    import redis
    client = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db)
    return client.hgetall(redis_key(cfg.feast.project, ENTITY_KEY, user))


def test_refusing_users_leave_nothing_and_withdrawal_erases_the_profile(stack, tmp_path):
    from jobs.profile import start
    cfg, _, tag = job_config(stack, tmp_path)
    keeps, refuses, withdraws = f"{tag}-keeps", f"{tag}-refuses", f"{tag}-withdraws"
    client = start(cfg)
    try:
        publish(cfg, [(keeps, click(keeps, 1, 0).to_json()),
                      (refuses, click(refuses, 1, 0, consent=NO).to_json()),
                      (refuses, click(refuses, 2, 5, consent=NO).to_json()),
                      (withdraws, click(withdraws, 1, 0).to_json()),
                      (withdraws, click(withdraws, 2, 5).to_json())])
        reader = feast_store.ProfileReader(cfg)
        rows = wait_for(reader, [keeps, withdraws],
                        lambda r: r[keeps]["last_event_ts"] and r[withdraws]["cnt_view_10m"] == 2)
        assert rows[withdraws]["cnt_view_10m"] == 2 and _hash(cfg, withdraws)
        assert _hash(cfg, refuses) == {}                    # the refusing user: no key at all

        # the caps the feedback job stored for the user (the same hash): gone with the profile too
        from udfs.io.seen_store import FIELD, SeenWriter
        SeenWriter(cfg).write([(withdraws, ["campaign|c1|1764547200000"], 1_764_547_200_000)])
        assert FIELD in _hash(cfg, withdraws)
        publish(cfg, [(withdraws, click(withdraws, 3, 10, consent=NO).to_json())])
        end = time.monotonic() + 60
        while time.monotonic() < end and _hash(cfg, withdraws):
            time.sleep(0.5)
        assert _hash(cfg, withdraws) == {}                  # erased from Redis ...
        assert reader.read_all([withdraws])[0]["last_event_ts"] is None
        assert reader.read_all([keeps])[0]["last_event_ts"]  # ... and nobody else was
        assert _hash(cfg, refuses) == {}
    finally:
        client.cancel().result()
