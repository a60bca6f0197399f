"""Erasure on the real stack (Kafka + PyFlink + Redis + the parquet training log): a user with a
profile, caps and training-log rows → `privacy erase --wait` → gone from Redis and the training
log, the audit records counted, `privacy verify` passes; then the profile job restarted from a
checkpoint taken before the erasure reads the request again and the user stays absent
(docs/privacy.md, "Erasure"). The time from request to complete is printed, not held tightly."""
from __future__ import annotations

import hashlib
import os
import time

import pytest
import redis

from tests.integration.test_privacy_job import _hash
from tests.integration.test_profile_job import click, job_config, publish, wait_for
from udfs.core import erasure as E
from udfs.io import feast_store
from udfs.io import training_log_store as tls
from udfs.io.feast_values import redis_key
from udfs.messages import ErasureAudit, TrainingRow
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def _config(stack, tmp_path):
    cfg, _, tag = job_config(stack, tmp_path, **{
        "kafka.topics.erasure.name": f"erasure-{tag_of(tmp_path)}",
        "kafka.topics.erasure_audit.name": f"audit-{tag_of(tmp_path)}",
        "feedback.training_log": f"{tmp_path}/training_log", "paths.data_dir": f"{tmp_path}/data",
        "privacy.erasure.audit_file": f"{tmp_path}/audit.jsonl",
        # the feedback job is not run here: its part is the flink tier's and the unit tests'
        "privacy.erasure.wait_for": "[adstream-profile]", "privacy.erasure.wait_s": "120"})
    return cfg, tag


def tag_of(tmp_path) -> str:
    return hashlib.sha1(str(tmp_path).encode()).hexdigest()[:8]


def _checkpoint_after(cfg, t: float, timeout_s: float = 60) -> str:
    from jobs.common import latest_checkpoint
    from jobs.profile import JOB
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        path = latest_checkpoint(cfg, JOB)
        if path and os.stat(path).st_mtime > t:
            return path
        time.sleep(0.5)
    raise AssertionError("no checkpoint completed in time")


def _audits(cfg) -> list[ErasureAudit]:
    from scripts.cli.erasure import AuditTail
    tail = AuditTail(cfg, from_start=True)
    try:
        return tail.read_to_end()
    finally:
        tail.close()


def test_erase_removes_the_user_everywhere_and_a_restore_cannot_bring_them_back(stack, tmp_path, capsys):
    from jobs.profile import start
    from scripts.cli import erasure
    from udfs.io.seen_store import FIELD, SeenWriter
    cfg, tag = _config(stack, tmp_path)
    gone, stays = f"{tag}-gone", f"{tag}-stays"
    client = start(cfg)
    try:
        publish(cfg, [(u, click(u, i, i * 5).to_json()) for u in (gone, stays) for i in (1, 2)])
        reader = feast_store.ProfileReader(cfg)
        rows = wait_for(reader, [gone, stays], lambda r: all(r[u]["cnt_view_10m"] == 2 for u in r))
        assert rows[gone]["cnt_view_10m"] == 2
        SeenWriter(cfg).write([(gone, ["campaign|c1|1764547200000"], 1_764_547_200_000)])
        assert FIELD in _hash(cfg, gone)
        ttl = redis.Redis(host=cfg.redis.host, port=cfg.redis.port, db=cfg.redis.db).ttl(
            redis_key(cfg.feast.project, "user_id", gone))
        assert 0 < ttl <= cfg.profile.windows.state_ttl_s          # retention: the write set the TTL
        tls.TrainingLogWriter(cfg.feedback.training_log_uri).write(
            [replace(EXAMPLES[TrainingRow], impression_id=f"im-{u}-{i}", user_id=u) for u in (gone, stays)
             for i in range(3)], "p0-0-5")
        before = _checkpoint_after(cfg, time.time() + 1.5)        # holds both profiles
    finally:
        client.cancel().result()

    client = start(cfg, restore_from=before)
    try:
        res = erasure.erase(cfg, gone, ticket=f"T-{tag}", wait=True)
        assert erasure.print_erase(res) == 0, res.missing
        print(f"erasure: request to complete {res.elapsed_s:.2f} s (target <= 60 s)")
        (job,) = res.jobs
        assert job.by == "adstream-profile" and job.stores[E.PROFILE_STATE] == 1
        assert job.stores[E.ONLINE_FIELDS] > 1                   # profile fields and the caps
        assert res.own.stores[E.TRAINING_ROWS] == 3 and res.own.stores[E.TRAINING_FILES] == 1
        assert _hash(cfg, gone) == {} and _hash(cfg, stays)      # gone, and nobody else
        assert tls.count_user(cfg.feedback.training_log_uri, gone) == 0
        assert tls.count_user(cfg.feedback.training_log_uri, stays) == 3
        checks = erasure.verify(cfg, gone)
        assert erasure.print_verify(gone, checks) == 0, [c for c in checks if not c.ok]
        assert erasure.print_verify(stays, erasure.verify(cfg, stays)) == 1   # it can fail
        assert [a.ticket_id for a in erasure.file_audits(cfg, gone)] == [f"T-{tag}"] * 2
    finally:
        client.cancel().result()

    # restored from before the erasure: the state has the profile again, the erasure is read again
    client = start(cfg, restore_from=before)
    try:
        end, again = time.monotonic() + 120, []
        while time.monotonic() < end and len(again) < 2:
            again = [a for a in _audits(cfg) if a.by == "adstream-profile" and a.user_id == gone]
            time.sleep(1)
        assert len(again) == 2 and again[1].stores[E.PROFILE_STATE] == 1   # restored, then erased again
        time.sleep(2 * cfg.profile.repair_check_ms / 1000)      # an online-store repair had its chance
        assert _hash(cfg, gone) == {} and _hash(cfg, stays)
        assert reader.read_all([gone])[0]["last_event_ts"] is None
        assert erasure.print_verify(gone, erasure.verify(cfg, gone)) == 0
    finally:
        client.cancel().result()
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)   # the commands' own output: what was removed, checked, and the time
