"""The compiled decoder and the generic one agree on every input: same object or same error."""
import math
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.errors import MessageError
from udfs.messages import ENVELOPED, base
from udfs.messages.bounds import TS_MAX_MS
from udfs.messages.compiled import FALLBACK

from tests.support.message_examples import EXAMPLES
from tests.unit.test_messages_fuzz import JSON

pytestmark = pytest.mark.unit

COMPILED = [cls for cls in ENVELOPED if base._compiled(cls) is not None]

ODD_VALUES = [None, True, False, 0, -1, 1, 2**63, 1.5, -0.5, math.nan, math.inf, -math.inf, "", "x",
              "x" * 129, "x" * 600, "view", "purchase", "mobile", "invalid", [], {}, ["a"], 1e7, 1e7 + 1,
              # the limits of udfs.messages.bounds: each side of every one
              2**63 - 1, -2**63, -2**63 - 1, 10**400, -10**400, int(sys.float_info.max), TS_MAX_MS,
              TS_MAX_MS + 1, "\ufffd", "u\ufffd", "\ud800", "é", "future"]


def generic(cls, doc):
    try:
        return ("ok", base._build(cls, doc, cls.SCHEMA, "", envelope=True))
    except MessageError as e:
        return ("error", e.field, e.reason)


def fast(cls, doc):
    try:
        return ("ok", cls.from_dict(doc))
    except MessageError as e:
        return ("error", e.field, e.reason)


def mutations(doc, rng, n):
    fields = [k for k in doc if k not in ("schema", "v")]
    for _ in range(n):
        d = dict(doc)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.2:
                d.pop(rng.choice(fields), None)
            elif op < 0.3:
                d[rng.choice(["extra", "Type", "tz"])] = 1
            elif op < 0.4:
                d[rng.choice(fields)] = d.get(rng.choice(fields))   # another field's value
            else:
                d[rng.choice(fields)] = rng.choice(ODD_VALUES)
        yield d


def test_some_formats_compile():
    assert {c.__name__ for c in COMPILED} >= {"ClickEvent", "Impression", "DeadLetter"}


@pytest.mark.parametrize("cls", COMPILED, ids=lambda c: c.__name__)
def test_compiled_decoder_agrees_with_the_generic_one(cls):
    rng = random.Random(11)
    doc = EXAMPLES[cls].to_dict()
    assert base._compiled(cls)(doc) == EXAMPLES[cls]          # the valid case takes the fast path
    seen_errors = 0
    for d in mutations(doc, rng, 3000):
        want, got = generic(cls, d), fast(cls, d)
        if want[0] == "ok":
            assert got[0] == "ok" and got[1] == want[1] and type(got[1]) is cls, d
            assert {k: type(v) for k, v in vars(got[1]).items()} == \
                   {k: type(v) for k, v in vars(want[1]).items()}, d   # int widened to float alike
        else:
            seen_errors += 1
            assert got == want, d
    assert seen_errors > 1000      # the mutations did reach the error paths


@pytest.mark.parametrize("cls", COMPILED, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_compiled_and_generic_agree_on_generated_values(cls, data):
    """Any JSON value (huge and boundary numbers, unclean text, wrong types) in up to three fields."""
    doc = EXAMPLES[cls].to_dict()
    fields = [k for k in doc if k not in ("schema", "v")]
    for k in data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3)):
        doc[k] = data.draw(JSON)
    want, got = generic(cls, doc), fast(cls, doc)
    assert got == want
    assert want[0] == "error" or {k: type(v) for k, v in vars(got[1]).items()} == \
        {k: type(v) for k, v in vars(want[1]).items()}


def test_fast_path_falls_back_rather_than_deciding_an_invalid_input():
    cls = EXAMPLES.__iter__().__next__()
    doc = {**EXAMPLES[cls].to_dict(), "ts": -5}
    assert base._compiled(cls)(doc) is FALLBACK
    with pytest.raises(MessageError, match="ts"):
        cls.from_dict(doc)


@pytest.mark.parametrize("text", ['{"a":1}', ' {"a":1}', '{"a":1} ', '{"a":1}x', '[1,2]', '', 'nul', '"s"',
                                  '1', 'NaN', '{"a":1}{"b":2}', '{"a":', '\n{"a":[1,{"b":null}]}\n'])
def test_fast_json_parse_matches_json_loads(text):
    import json

    def outcome(f):
        try:
            return ("ok", f(text))
        except json.JSONDecodeError as e:
            return ("error", e.msg, e.pos)
    assert outcome(base._loads) == outcome(json.loads)
