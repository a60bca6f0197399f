"""`adstream privacy erase|verify` without services: the id the stores hold, the audit file and
the erased users the training-log writer skips, and verify's verdict."""
import io

import pytest

from scripts.cli import erasure
from udfs import config
from udfs.core import erasure as E
from udfs.core.pseudonym import key_id_of
from udfs.messages import ErasureRequest

pytestmark = pytest.mark.unit

KEY = {"ADSTREAM_PSEUDONYM_KEY": "x" * 40}


def _cfg(tmp_path, *sets):
    return config.load("test", overrides=[f"privacy.erasure.audit_file={tmp_path}/audit.jsonl", *sets])


def test_user_is_taken_as_given_unless_the_config_says_ids_are_pseudonymised(tmp_path):
    assert erasure.user_id(_cfg(tmp_path), "alice", KEY) == "alice"
    cfg = _cfg(tmp_path, "privacy.erasure.pseudonymise_user=true")
    p = erasure.user_id(cfg, "alice", KEY)
    assert p != "alice" and key_id_of(p) == "k1" and erasure.user_id(cfg, "alice", KEY) == p
    assert erasure.user_id(cfg, p, KEY) == p              # already a pseudonym of the current key
    with pytest.raises(Exception, match="ADSTREAM_PSEUDONYM_KEY"):
        erasure.user_id(cfg, "alice", {})


def test_audit_file_is_appended_and_read_back_by_user(tmp_path):
    cfg = _cfg(tmp_path)
    reqs = [ErasureRequest(request_id=f"T{i}", user_id=u, ts=1000 * i, requested_by="d")
            for i, u in enumerate(["a", "b", "a"], 1)]
    erasure.append_audits(cfg, [E.audit(r, E.COMMAND, {E.TRAINING_ROWS: 1}, 5000) for r in reqs[:2]])
    erased = erasure.ErasedUsers(cfg)
    assert erased.get() == {"a": 1000, "b": 2000}
    erasure.append_audits(cfg, [E.audit(reqs[2], E.COMMAND, {E.TRAINING_ROWS: 0}, 5000),
                                E.audit(reqs[0], "adstream-profile", {E.PROFILE_STATE: 1}, 9000)])
    assert erased.get() == {"a": 3000, "b": 2000}         # re-read on change; the jobs' records skipped
    assert [a.ticket_id for a in erasure.file_audits(cfg, "a")] == ["T1", "T3", "T1"]


def test_verify_passes_only_when_every_check_is_absent():
    ok = [erasure.Check("redis", 0, "HLEN"), erasure.Check("state", 0, "audit")]
    assert erasure.print_verify("u", ok, io.StringIO()) == 0
    out = io.StringIO()
    assert erasure.print_verify("u", ok + [erasure.Check("state", None, "no audit")], out) == 1
    assert "NOT PROVEN" in out.getvalue()
    out = io.StringIO()
    assert erasure.print_verify("u", ok + [erasure.Check("training log", 3, "files")], out) == 1
    assert "FOUND 3" in out.getvalue() and "1 store(s) not clear" in out.getvalue()


def test_a_broken_audit_file_is_named_with_its_line(tmp_path):
    from udfs.errors import AdstreamError
    cfg = _cfg(tmp_path)
    (tmp_path / "audit.jsonl").write_text('{"schema": "erasure_audit"}\n')
    with pytest.raises(AdstreamError, match="audit.jsonl:1"):
        erasure.ErasedUsers(cfg).get()
