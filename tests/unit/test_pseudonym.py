"""Pseudonymous ids (udfs.core.pseudonym) and minimised dead letters (docs/privacy.md)."""
import json

import pytest

from udfs.config import ConfigError, Privacy
from udfs.core import pseudonym as PS
from udfs.messages import DeadLetter
from udfs.messages.dead_letter import REMOVED, minimised

pytestmark = pytest.mark.unit

KEY1, KEY2 = b"a" * 32, b"b" * 32


def test_deterministic_for_one_key_different_across_keys_and_carries_the_key_id():
    a = PS.Pseudonymiser(KEY1, "k1")
    assert a.id("u000123") == a.id("u000123") == PS.pseudonym("u000123", KEY1, "k1")
    assert a.id("u000123") != a.id("u000124")
    b = PS.Pseudonymiser(KEY2, "k2")
    assert b.id("u000123") != a.id("u000123")
    assert PS.key_id_of(a.id("u1")) == "k1" and PS.key_id_of(b.id("u1")) == "k2"
    assert PS.Pseudonymiser(KEY2, "k1").id("u1").split("-")[1] != a.id("u1").split("-")[1]   # the key decides


def test_the_documented_shape():
    p = PS.Pseudonymiser(KEY1, "k1").id("someone@example.com")
    kid, tail = p.split("-", 1)
    assert kid == "k1" and len(tail) == PS.ENCODED_CHARS == 22
    assert set(tail) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert PS.key_id_of("u000123") is None


def test_a_record_has_every_identifier_replaced_and_no_raw_id_left():
    p = PS.Pseudonymiser(KEY1, "k1")
    rec = {"schema": "clickstream", "v": 2, "event_id": "e1", "user_id": "u000123", "ip": "203.0.113.7",
           "device_id": "dev-9", "email": "a@b.example", "item_id": "i1"}
    out = p.record(rec)
    assert out["user_id"] == p.id("u000123") and out["ip"] == p.id("203.0.113.7")
    assert out["event_id"] == "e1" and out["item_id"] == "i1" and rec["user_id"] == "u000123"   # input untouched
    text = json.dumps(out)
    assert all(raw not in text for raw in ("u000123", "203.0.113.7", "dev-9", "a@b.example"))
    assert p.record({"user_id": None})["user_id"] is None      # an anonymous visitor stays anonymous


def test_a_missing_or_short_secret_is_a_clear_error_and_the_key_never_shows():
    with pytest.raises(ConfigError, match="export ADSTREAM_PSEUDONYM_KEY="):
        PS.Pseudonymiser.from_environ(Privacy(), {})
    with pytest.raises(ConfigError, match="at least 32"):
        PS.Pseudonymiser.from_environ(Privacy(), {"ADSTREAM_PSEUDONYM_KEY": "short"})
    p = PS.Pseudonymiser.from_environ(Privacy(pseudonym_key_id="k7"), {"ADSTREAM_PSEUDONYM_KEY": "s" * 40})
    assert p.key_id == "k7" and "s" * 40 not in repr(p)
    with pytest.raises(ConfigError, match="pseudonym_key_id"):
        Privacy(pseudonym_key_id="k-1")     # a dash would make the key id ambiguous


@pytest.mark.parametrize("raw", [
    '{"schema":"clickstream","v":2,"user_id":"u000123","type":"hover"}',
    '{"user_id": "u\\"000123", "email": "u000123@x.example"}',
    '{not json "user_id":"u000123"',
    b'\xff{"user_id":"u000123"}',
])
def test_dead_letters_keep_the_reason_and_never_the_raw_id(raw):
    dl = DeadLetter.of(raw, "bad", "invalid", "clicks.v1", 1)
    assert "u000123" not in dl.original and REMOVED in dl.original and dl.reason == "bad"
    assert "u000123" not in dl.to_bounded_json(4096)


def test_minimised_keeps_null_and_everything_else():
    assert minimised('{"user_id":null,"item_id":"i1"}') == '{"user_id":null,"item_id":"i1"}'


def test_the_world_replay_pseudonymises_every_record_and_its_key():
    from scripts.cli.replay.records import Record
    from scripts.cli.replay.world import pseudonymised
    p = PS.Pseudonymiser(KEY1, "k1")
    recs = [Record("clicks", b"u000123", b'{"schema":"clickstream","user_id":"u000123","ts":1}', 1),
            Record("ads.catalog", b"campaign:c1", b'{"campaign_id":"c1"}', 0),
            Record("ad-requests", None, b'{"schema":"ad_request","user_id":null}', 2)]
    out = list(pseudonymised(recs, p))
    assert out[0].key == p.id("u000123").encode() and json.loads(out[0].value)["user_id"] == p.id("u000123")
    assert out[1] == recs[1] and out[2].key is None and json.loads(out[2].value)["user_id"] is None
    assert all(b"u000123" not in (r.value or b"") + (r.key or b"") for r in out)


def test_the_cli_pseudonymises_json_lines_and_refuses_without_a_key(tmp_path):
    from scripts.cli.privacy import pseudonymise_file
    from udfs.config import load
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"user_id":"u000123","ts":1}\n\n{"user_id":"u000124"}\n')
    cfg = load("test")
    with pytest.raises(ConfigError, match="not set"):
        pseudonymise_file(cfg, src, dst, environ={})
    assert not dst.exists()
    env = {"ADSTREAM_PSEUDONYM_KEY": "x" * 32}
    assert pseudonymise_file(cfg, src, dst, environ=env) == 2
    p = PS.Pseudonymiser.from_environ(cfg.privacy, env)
    rows = [json.loads(ln) for ln in dst.read_text().splitlines()]
    assert [r["user_id"] for r in rows] == [p.id("u000123"), p.id("u000124")] and rows[0]["ts"] == 1
    assert "u00012" not in dst.read_text()
