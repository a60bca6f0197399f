"""The pure and file-level parts of erasure and retention: the audit record, the atomic rewrite of
the training log's partitions, the purge's choice of hours, the stack's topic retention."""

import pyarrow.parquet as pq
import pytest

from udfs import config
from udfs.core import erasure as E
from udfs.core.retention import expired_hours, stats_ttl_s, user_ttl_s
from udfs.errors import MessageError
from udfs.io import training_log_store as tls
from udfs.messages import ErasureAudit, ErasureRequest, TrainingRow
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.unit

H0 = 1_764_547_200_000   # 2025-12-01T00:00Z


def row(i, user, hour=0):
    return replace(EXAMPLES[TrainingRow], impression_id=f"im{i}", user_id=user,
                               ts=H0 + hour * 3_600_000 + i)


def test_audit_record_round_trips_and_is_refused_when_malformed():
    req = ErasureRequest(request_id="T-9", user_id="k1-abc", ts=H0, requested_by="desk")
    a = E.audit(req, "adstream-profile", {E.PROFILE_STATE: 1, E.ONLINE_FIELDS: 31}, H0 + 1500)
    back = ErasureAudit.decode(a.encode())
    assert back == a and back.ticket_id == "T-9" and back.stores[E.ONLINE_FIELDS] == 31
    assert back.completed_ts - back.requested_ts == 1500
    # a clock behind the request's: completed at the request's own time, never before it
    assert E.audit(req, "x", {E.PROFILE_STATE: 0}, H0 - 99).completed_ts == H0
    bad = a.to_dict() | {"stores": {}}
    with pytest.raises(MessageError, match="stores"):
        ErasureAudit.decode(bad)
    with pytest.raises(MessageError, match="completed_ts"):
        ErasureAudit.decode(a.to_dict() | {"completed_ts": H0 - 1})


def test_missing_names_the_erasers_without_a_record_of_the_ticket():
    req = ErasureRequest(request_id="T", user_id="u", ts=H0, requested_by="d")
    other = ErasureRequest(request_id="T2", user_id="u", ts=H0, requested_by="d")
    got = [E.audit(req, "adstream-profile", {"s": 0}, H0), E.audit(other, "adstream-feedback", {"s": 0}, H0)]
    assert E.missing(got, "T", ["adstream-profile", "adstream-feedback"]) == ["adstream-feedback"]


def test_erase_user_rewrites_only_the_files_holding_the_user(tmp_path):
    uri = str(tmp_path / "tl")
    w = tls.TrainingLogWriter(uri)
    w.write([row(1, "gone"), row(2, "stays")], "a")            # hour 0: mixed
    w.write([row(3, "stays", hour=1)], "b")                    # hour 1: untouched
    only = w.write([row(4, "gone", hour=2), row(5, "gone", hour=2)], "c")   # hour 2: only the user
    untouched = tmp_path / "tl" / "hour=2025120101" / "part-b.parquet"
    before = untouched.stat().st_mtime_ns
    removed, files = tls.erase_user(uri, "gone")
    assert removed == 3 and len(files) == 2 and only[0] in files
    assert tls.count_user(uri, "gone") == 0 and tls.count_user(uri, "stays") == 2
    assert untouched.stat().st_mtime_ns == before
    assert not (tmp_path / "tl" / "hour=2025120102" / "part-c.parquet").exists()   # emptied: deleted
    left = tls.read(uri)
    assert sorted(left.column("impression_id").to_pylist()) == ["im2", "im3"]
    assert not [p for p in (tmp_path / "tl").rglob(".tmp-*")]   # nothing half-written left behind
    assert tls.erase_user(uri, "gone") == (0, [])              # a second erasure finds nothing


def test_rewrite_without_keeps_rows_whose_id_is_null(tmp_path):
    uri = str(tmp_path / "tl")
    (path,) = tls.TrainingLogWriter(uri).write([row(1, None), row(2, "gone")], "a")
    import pyarrow.fs as pafs
    assert tls.rewrite_without(pafs.LocalFileSystem(), path, "user_id", "gone") == 1
    assert pq.read_table(path).column("user_id").to_pylist() == [None]


def test_expired_hours_are_those_wholly_past_the_retention():
    now = H0 + 10 * 86_400_000   # 2025-12-11T00:00Z
    held = ["2025120123", "2025113023", "2025120100", "2025120200", "junk", "20251201", "2025120099"]
    # cutoff 2025-12-02T00:00Z: the 1st's 23h ends exactly there and goes; the 2nd's 00h stays
    assert expired_hours(held, now, 9) == ["2025113023", "2025120100", "2025120123"]
    assert expired_hours(held, now - 1, 9) == ["2025113023", "2025120100"]
    assert expired_hours(held, now, 30) == []


def test_purge_removes_old_hours_from_the_store(tmp_path, capsys):
    from scripts.cli.training_log import purge
    cfg = config.load("test", overrides=[f"feedback.training_log={tmp_path / 'tl'}",
                                         "privacy.retention.training_log_days=1"])
    w = tls.TrainingLogWriter(cfg.feedback.training_log_uri)
    w.write([row(1, "a"), row(2, "b", hour=30)], "x")
    assert purge(cfg, now_ms=H0 + 2 * 86_400_000) == 0
    assert tls.hours(cfg.feedback.training_log_uri) == ["2025120206"]
    assert "removed 1 of 2 hours" in capsys.readouterr().out


def test_online_ttls_follow_the_state_ttls():
    cfg = config.load("test")
    assert user_ttl_s(cfg) >= cfg.profile.windows.state_ttl_s
    assert all(user_ttl_s(cfg) >= r.window_s for r in (*cfg.scoring.campaign_caps, *cfg.scoring.creative_caps))
    assert stats_ttl_s(cfg) == 2 * max(cfg.feedback.stats_windows_s)


def test_stack_sets_retention_on_the_topics_with_personal_data_and_refuses_unknown_keys():
    from scripts.stack.control import topic_configs
    from udfs.errors import StackError
    cfg = config.load("test")
    confs = topic_configs(cfg)
    t = cfg.kafka.topics
    assert confs[t.clicks.name]["retention.ms"] == str(cfg.privacy.retention.topics_ms["clicks"])
    assert confs[t.catalog.name] == {"cleanup.policy": "compact"}      # no personal data: broker default
    assert "retention.ms" not in confs[t.dead_letter.name]            # ids removed from dead letters
    with pytest.raises(StackError, match="names no topic: clickz"):
        topic_configs(config.load("test", overrides=["privacy.retention.topics_ms={clickz: 600000}"]))
