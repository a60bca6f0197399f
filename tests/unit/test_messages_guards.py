"""Decoding raises MessageError and nothing else: the known crashers, each bound, the ts window."""
import json
import typing
from collections import abc

import pytest

from udfs import config
from udfs.errors import MessageError
from udfs.messages import ENVELOPED, AdRequest, ClickEvent, DeadLetter, Impression, RankedAds
from udfs.messages.base import fields, replace, strip
from udfs.messages.bounds import INT_MAX, TS_MAX_MS, TimeBounds, show

from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
BOUNDS = TimeBounds(min_ts_ms=946_684_800_000, max_future_skew_ms=300_000)


def wire(cls, **changes) -> str:
    return json.dumps(EXAMPLES[cls].to_dict() | changes)


def error(cls, raw, **kw) -> MessageError:
    with pytest.raises(MessageError) as e:
        cls.decode(raw, **kw)
    assert e.value.schema == cls.SCHEMA and e.value.reason
    return e.value


# ------------------------------------------------------------------ the crashers of issue #11

def test_integer_price_past_the_float_range():
    raw = wire(ClickEvent).replace('"price": 19.9', '"price": 1' + "0" * 400)
    e = error(ClickEvent, raw)
    assert (e.field, e.reason) == ("price", "integer out of range")
    # A float field without a max (Impression.price) too, and an object built in code alike.
    assert error(Impression, wire(Impression).replace('"price": 0.004', '"price": ' + "9" * 400)).reason \
        == "integer out of range"
    with pytest.raises(MessageError, match="integer out of range"):
        replace(EXAMPLES[Impression], price=10**400)


def test_ts_past_what_a_datetime_can_hold():
    e = error(ClickEvent, wire(ClickEvent, ts=2**63 - 1))
    assert e.field == "ts" and str(TS_MAX_MS) in e.reason
    assert ClickEvent.decode(wire(ClickEvent, ts=TS_MAX_MS)).ts == TS_MAX_MS


def test_deep_nesting():
    # msgspec checks the type where the nesting starts, so it never descends (and names the field)
    e = error(ClickEvent, "[" * 100_000 + "]" * 100_000)
    assert (e.field, e.reason) == ("<payload>", "expected a JSON object, got a list")
    e = error(ClickEvent, wire(ClickEvent).replace('"geo": "DE"', '"geo": ' + "[" * 50_000 + "]" * 50_000))
    assert (e.field, e.reason) == ("geo", "expected a string, got a list")
    # json.loads does descend, where msgspec refuses a record as not JSON (here: the NaN)
    e = error(ClickEvent, wire(ClickEvent).replace('"geo": "DE"', '"geo": NaN, "x": ' + "[" * 50_000 + "]" * 50_000))
    assert (e.field, e.reason) == ("<payload>", "not JSON: nested too deeply (RecursionError)")


def test_integer_literal_past_the_digit_limit():
    raw = wire(ClickEvent).replace('"ts": 1700000000000', '"ts": ' + "7" * 5000)
    assert (error(ClickEvent, raw).field, error(ClickEvent, raw).reason) == ("ts", "integer out of range")
    # json.loads reads it (where msgspec refuses the record as not JSON: the NaN) and cannot
    e = error(ClickEvent, raw.replace('"event_id": "e1"', '"event_id": NaN'))
    assert e.field == "<payload>" and e.reason.startswith("ValueError: Exceeds the limit")
    assert len(e.reason) < 300


def test_every_integer_fits_a_java_long():
    doc = EXAMPLES[RankedAds].to_dict()
    doc["ads"][0]["rank"] = INT_MAX + 1      # rank has a min only
    e = error(RankedAds, json.dumps(doc))
    assert e.field == "ads[0].rank" and str(INT_MAX) in e.reason
    assert error(RankedAds, wire(RankedAds, ts=-(2**63) - 1)).field == "ts"


# ------------------------------------------------------------------ strict where the format says so

@pytest.mark.parametrize("v", [1.0, True, "1", None, [1]])
def test_version_is_an_integer(v):
    for cls in ENVELOPED:
        e = error(cls, wire(cls, v=v))
        assert e.field == "v" and "integer" in e.reason


def test_bytes_are_decoded_strictly():
    good = EXAMPLES[ClickEvent].encode()
    assert ClickEvent.decode(good) == ClickEvent.decode(bytearray(good)) == EXAMPLES[ClickEvent]
    for bad in (b"\xff" + good, good[:-1] + b"\xc3", good.replace(b"u1", b"u\xed\xa0\x80")):
        e = error(ClickEvent, bad)
        assert e.field == "<payload>" and e.reason.startswith("not UTF-8")


def _text_fields(cls):
    """(path, example value) of every free-text field of a format, nested ones included."""
    doc = EXAMPLES[cls].to_dict()
    out = []
    for f in fields(cls):
        v = doc.get(f.name)
        if isinstance(v, str) and typing.get_origin(strip(f.type)[0]) is not typing.Literal:   # not a choice
            out.append(((f.name,), v))
        elif isinstance(v, dict) and f.name != "timings_ms":
            out += [((f.name, k), x) for k, x in v.items() if isinstance(x, str)]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out += [((f.name, 0, k), x) for k, x in v[0].items() if isinstance(x, str)]
    return out


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@pytest.mark.parametrize("bad", ["\ufffd", "\ud800", "\udfff"])
def test_replacement_char_or_lone_surrogate_in_any_string_is_not_utf8(cls, bad):
    fields = _text_fields(cls)
    assert fields
    for path, value in fields:
        if cls is DeadLetter and path == ("original",) and bad == "\ufffd":
            continue   # the one field that quotes undecodable input (below)
        doc = EXAMPLES[cls].to_dict()
        node = doc
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value + bad
        e = error(cls, json.dumps(doc))
        assert e.reason == "not UTF-8", (path, e)
        assert e.field == ".".join(str(p) for p in path).replace(".0.", "[0]."), e


def test_mapping_keys_are_text_too():
    e = error(RankedAds, wire(RankedAds, timings_ms={"tot\ufffdal": 1.0}))
    assert e.field == "timings_ms" and "not UTF-8" in e.reason
    e = error(RankedAds, wire(RankedAds, timings_ms={"x" * 65: 1.0}))
    assert "longer than 64" in e.reason
    e = error(RankedAds, wire(RankedAds, timings_ms={f"s{i}": 1.0 for i in range(65)}))
    assert "more than 64 items" in e.reason
    assert error(RankedAds, wire(RankedAds, timings_ms={"total": 10**400})).reason == "integer out of range"
    assert "finite" in error(RankedAds, wire(RankedAds, timings_ms={"total": float("nan")})).reason


def test_dead_letter_original_may_quote_undecodable_input():
    dl = DeadLetter.of(b"\xff\xfebad", "not UTF-8", "invalid", "clicks.v1", T0)
    assert "\ufffd" in dl.original and DeadLetter.decode(dl.encode()) == dl


def test_dead_letter_of_anything_is_writable():
    # What a reader quotes from a bad record (a lone surrogate, U+FFFD) in its payload, reason or field.
    dl = DeadLetter.of("x\ud800\ufffd" * 400_000, "reason \ud800\ufffd " * 500, "invalid", "t", T0,
                       field="f\ud800" * 300)
    assert len(dl.original) == 1_000_000 and len(dl.reason) <= 2048 and len(dl.field) <= 256
    assert DeadLetter.decode(dl.encode()) == dl


# ------------------------------------------------------------------ every exception, not a list of them

class _Hostile(abc.Mapping):
    """A mapping that fails the way no rule foresees: the catch-all must turn it into a MessageError."""

    def __init__(self, doc):
        self.doc = doc

    def __getitem__(self, k):
        if k == "user_id":
            raise RuntimeError("disk on fire")
        return self.doc[k]

    def __iter__(self):
        return iter(self.doc)

    def __len__(self):
        return len(self.doc)


def test_an_unforeseen_exception_becomes_a_message_error_naming_its_class():
    with pytest.raises(MessageError) as e:
        ClickEvent.from_dict(_Hostile(EXAMPLES[ClickEvent].to_dict()))
    assert e.value.field == "<payload>" and e.value.reason == "RuntimeError: disk on fire"
    with pytest.raises(MessageError) as e:
        ClickEvent.decode(_Hostile(EXAMPLES[ClickEvent].to_dict()))
    assert e.value.reason.startswith("RuntimeError")


def test_error_text_quotes_values_short_and_ascii():
    e = error(ClickEvent, wire(ClickEvent, ts="é" * 100_000))
    assert len(e.reason) < 120 and e.reason.isascii()
    assert show(10**5000) == "<integer of 16610 bits>"
    nested = []
    for _ in range(5000):
        nested = [nested]
    assert show(nested).startswith("<deeply nested")


# ------------------------------------------------------------------ the configured ts window

def test_ts_window_uses_the_callers_clock():
    now = T0
    ok = ClickEvent.decode(wire(ClickEvent, ts=now + 300_000), bounds=BOUNDS, now_ms=now)
    assert ok.ts == now + 300_000
    e = error(ClickEvent, wire(ClickEvent, ts=now + 300_001), bounds=BOUNDS, now_ms=now)
    assert (e.field, e.kind) == ("ts", "future") and e.reason.startswith("future")
    # The same record an hour later is fine: the clock is the caller's, not read inside.
    assert ClickEvent.decode(wire(ClickEvent, ts=now + 300_001), bounds=BOUNDS, now_ms=now + 3_600_000)
    e = error(ClickEvent, wire(ClickEvent, ts=946_684_799_999), bounds=BOUNDS, now_ms=now)
    assert (e.field, e.kind) == ("ts", "invalid") and "min_ts_ms" in e.reason
    # Without bounds only the format's own limits apply (ts=7 is a valid epoch ms).
    assert ClickEvent.decode(wire(ClickEvent, ts=7)).ts == 7
    with pytest.raises(TypeError, match="now_ms"):
        ClickEvent.decode(wire(ClickEvent), bounds=BOUNDS)


def test_request_ts_uses_the_same_bound():
    e = error(AdRequest, wire(AdRequest, ts=T0 + 10**9), bounds=BOUNDS, now_ms=T0)
    assert e.kind == "future"


def test_bounds_come_from_config():
    cfg = config.load("test")
    assert TimeBounds.from_config(cfg.messages) == TimeBounds(946_684_800_000, 300_000)
    cfg = config.load("test", overrides=["messages.max_future_skew_ms=5"])
    assert TimeBounds.from_config(cfg.messages).max_future_skew_ms == 5
    with pytest.raises(config.ConfigError, match="messages.max_future_skew_ms"):
        config.load("test", overrides=["messages.max_future_skew_ms=-1"])
