"""Property tests: whatever the bytes, decoding returns a valid message or raises MessageError.

For every wire format: random JSON values, mutated valid messages (fields replaced,
dropped, added, nested deep), huge and boundary numbers, bad types, text that is not
clean UTF-8, and byte-level damage to a valid encoding. A message that decodes must
write back out and read back equal; an error must carry a reason and survive being
dead-lettered. Then the same through the two job steps that decode: the profile batch
accounts for every line, the scorer answers or dead-letters every request.
"""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.core import profile as P
from udfs.core import profile_batch as B
from udfs.errors import MessageError
from udfs.messages import ENVELOPED, AdRequest, ClickEvent, DeadLetter, RankedAds
from udfs.messages.bounds import TimeBounds
from udfs.messages.examples import EXAMPLES
from scripts.bench.wire_fuzz import EDGES, JSON, as_wire, dumps, mutated, texts
from tests.unit.test_scoring import deps, req, scorer

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
BOUNDS = TimeBounds(min_ts_ms=946_684_800_000, max_future_skew_ms=300_000)
FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(cls, raw, **kw):
    try:
        msg = cls.decode(raw, **kw)
    except MessageError as e:
        assert e.schema == cls.SCHEMA and isinstance(e.reason, str) and e.reason
        assert e.kind in ("invalid", "future")
        payload = raw if isinstance(raw, (str, bytes)) else repr(raw)
        dl = DeadLetter.of(payload, str(e), e.kind, "topic", T0, field=e.field)  # never refused
        assert DeadLetter.decode(dl.encode()) == dl
        return None
    assert type(msg) is cls
    assert cls.decode(msg.encode()) == msg     # what is accepted can be written and read back
    doc = msg.to_dict()
    if cls is DeadLetter:
        doc.pop("original")                    # the one field that may quote U+FFFD
    bad = [t for t in texts(doc) if re.search("[\ud800-\udfff\ufffd]", t)]
    assert not bad, bad                        # and holds only text that came from valid UTF-8
    return msg


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@FAST
@given(data=st.data())
def test_mutated_messages(cls, data):
    doc = data.draw(mutated(cls))
    check(cls, as_wire(data.draw, dumps(doc)))
    try:
        cls.from_dict(doc)
    except MessageError as e:
        assert e.reason


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@FAST
@given(value=JSON, envelope=st.booleans())
def test_random_json_values(cls, value, envelope):
    if envelope and isinstance(value, dict):
        value = {**value, "schema": cls.SCHEMA, "v": cls.VERSION}
    check(cls, dumps(value))


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@FAST
@given(data=st.data())
def test_damaged_bytes(cls, data):
    raw = bytearray(EXAMPLES[cls].encode())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if op == "flip" and i < len(raw):
            raw[i] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[i:i + data.draw(st.integers(1, 4))]
        else:
            del raw[i:]
    check(cls, bytes(raw))


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@FAST
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_and_text(cls, raw):
    check(cls, raw)


@FAST
@given(data=st.data(), now=st.one_of(st.integers(T0 - 10**12, T0 + 10**12), st.integers(-10**20, 10**20)))
def test_with_the_ts_window_any_clock(data, now):
    cls = data.draw(st.sampled_from(ENVELOPED))
    doc = data.draw(st.one_of(mutated(cls), st.builds(EXAMPLES[cls].to_dict)))   # a fresh dict: it is edited
    doc["ts"] = data.draw(st.one_of(st.sampled_from(EDGES), st.integers(now - 10**6, now + 10**6)))
    msg = check(cls, dumps(doc), bounds=BOUNDS, now_ms=now)
    if msg is not None:
        assert BOUNDS.min_ts_ms <= msg.ts <= now + BOUNDS.max_future_skew_ms


# ------------------------------------------------------------------ the steps that decode

PARAMS = P.ProfileParams(windows_s=(600, 3600, 86400), half_life_s=3600, top_k=3)


@FAST
@given(data=st.data())
def test_profile_batch_accounts_for_every_line(data):
    lines = []
    for _ in range(data.draw(st.integers(1, 6))):
        doc = data.draw(st.one_of(mutated(ClickEvent), st.builds(EXAMPLES[ClickEvent].to_dict), JSON))
        lines.append(data.draw(st.sampled_from([B.ON_TIME_FLAG, B.LATE_FLAG])) + dumps(doc))
    res = B.process(lines, B.DictStore(), PARAMS, dedupe_horizon_ms=3_600_000, now_ms=T0 + 10**12,
                    source_topic="clicks.v1", stage="profile.apply.v1", bounds=BOUNDS)
    assert sum(res.counts.values()) == len(lines)
    for dl in res.dead_letters:
        assert DeadLetter.decode(dl.encode()) == dl


@FAST
@given(data=st.data())
def test_the_scorer_answers_or_dead_letters_every_request(data):
    sc = scorer(bounds=BOUNDS)
    sc.wall_ms = lambda: T0
    raw = data.draw(st.one_of(mutated(AdRequest).map(dumps), st.binary(max_size=40), st.just(req().decode())))
    out = sc.handle(raw if isinstance(raw, bytes) else as_wire(data.draw, raw), deps())
    assert out.response is not None or out.dead_letter is not None
    if out.response is not None:
        assert RankedAds.decode(out.response.encode()) == out.response
    if out.dead_letter is not None:
        assert DeadLetter.decode(out.dead_letter.encode()) == out.dead_letter
