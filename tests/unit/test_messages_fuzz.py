"""Property tests: whatever the bytes, decoding returns a valid message or raises MessageError.

For every wire format: random JSON values, mutated valid messages (fields replaced,
dropped, added, nested deep), huge and boundary numbers, bad types, text that is not
clean UTF-8, and byte-level damage to a valid encoding. A message that decodes must
write back out and read back equal; an error must carry a reason and survive being
dead-lettered. Then the same through the two job steps that decode: the profile batch
accounts for every line, the scorer answers or dead-letters every request.
"""
import copy
import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.core import profile as P
from udfs.core import profile_batch as B
from udfs.errors import MessageError
from udfs.messages import ENVELOPED, AdRequest, ClickEvent, DeadLetter, RankedAds
from udfs.messages.bounds import INT_MAX, INT_MIN, TS_MAX_MS, TimeBounds

from udfs.messages.examples import EXAMPLES
from tests.unit.test_scoring import deps, req, scorer

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
BOUNDS = TimeBounds(min_ts_ms=946_684_800_000, max_future_skew_ms=300_000)
FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values at and just past every limit the formats have, and the types they must refuse. A
# tuple, and drawn as copies (below): ``mutated`` edits the containers it draws in place, and an
# edited shared ``{}`` made a replayed draw differ (hypothesis's FlakyStrategyDefinition).
EDGES = (0, -1, 1, 50, 51, 2**53 + 1, INT_MAX, INT_MAX + 1, INT_MIN, INT_MIN - 1, TS_MAX_MS, TS_MAX_MS + 1,
         10**400, -10**400, 1e7, 1e7 + 1, 1e308, -0.0, math.nan, math.inf, -math.inf, True, False, None,
         "", "x" * 64, "x" * 65, "x" * 129, "x" * 257, "\ufffd", "a\ud800", "\udfffz", "é", "view",
         "purchase", "mobile", "invalid", "future", [], {}, [{}], {"a": 1})
NASTY_TEXT = st.text(alphabet=st.sampled_from("ab9 _-é€\u0000\ufffd\ud800\udbff\udc00\udfff\"\\{}[]"),
                     max_size=12)
LEAF = st.one_of(st.sampled_from(EDGES).map(copy.deepcopy), st.none(), st.booleans(), st.integers(),
                 st.integers(min_value=-10**500, max_value=10**500),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), NASTY_TEXT)
JSON = st.recursive(LEAF, lambda c: st.lists(c, max_size=4) | st.dictionaries(
    st.one_of(st.text(max_size=8), NASTY_TEXT), c, max_size=4), max_leaves=16)


def paths(node, prefix=()):
    """Every (container path, key) in a decoded message, nested objects and lists included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield prefix, k
        yield from paths(v, prefix + (k,))


@st.composite
def mutated(draw, cls):
    doc = json.loads(EXAMPLES[cls].encode())
    for _ in range(draw(st.integers(1, 4))):
        where = list(paths(doc))
        if not where:
            break
        prefix, key = draw(st.sampled_from(where))
        node = doc
        for p in prefix:
            node = node[p]
        op = draw(st.sampled_from(["set", "set", "set", "drop", "add", "deep", "text", "text", "big"]))
        if op == "drop":
            node.pop(key) if isinstance(node, dict) else node.pop(key)
        elif op == "add" and isinstance(node, dict):
            node[draw(st.one_of(st.text(max_size=8), NASTY_TEXT))] = draw(JSON)
        elif op == "deep":   # a marker that dumps() turns into the nesting (json.dumps stops at ~1000)
            node[key] = f"DEEP:{draw(st.integers(1, 5000))}:{draw(st.sampled_from('[{'))}"
        elif op == "big":    # a marker for an integer literal past json's int-digits limit
            node[key] = f"BIG:{draw(st.integers(4000, 6000))}:"
        elif op == "text" and isinstance(node[key], str):   # keep it valid but for one character
            i = draw(st.integers(0, len(node[key])))
            node[key] = node[key][:i] + draw(st.sampled_from("\ufffd\ud800\udfffé")) + node[key][i:]
        else:
            node[key] = draw(JSON)
    return doc


_MARK = re.compile(r'"(DEEP|BIG):(\d+):([\[{]?)"')


def _expand(m: re.Match) -> str:
    n = int(m.group(2))
    if m.group(1) == "BIG":
        return "7" * n
    return "[" * n + "1" + "]" * n if m.group(3) == "[" else '{"k":' * n + "1" + "}" * n


def dumps(doc) -> str:
    return _MARK.sub(_expand, json.dumps(doc, allow_nan=True, ensure_ascii=False))


def texts(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from texts(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from texts(v)


def as_wire(draw, text: str):
    """The text as the jobs may see it: a str, or bytes (a lone surrogate as its invalid UTF-8)."""
    return text if draw(st.booleans()) else text.encode("utf-8", errors="surrogatepass")


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
