"""The ways into a message agree on every input: same object, or same error (field and reason).

A record arrives as text (``decode(str)``: the profile job), as bytes (``decode(bytes)``: the
scorer), as a decoded JSON object (``from_dict``: the synthetic world's writer), or is built in
code (``cls(**fields)``: the scorer's answer). msgspec parses the first two; the others are
converted from Python values, where NaN, a lone surrogate and a huge integer can already be in
the values; all four must meet the same rules and say the same about a fault.
"""
import json
import math
import random
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.errors import MessageError
from udfs.messages import ENVELOPED
from udfs.messages.base import Part, fields, strip
from udfs.messages.bounds import TS_MAX_MS

from udfs.messages.examples import EXAMPLES
from scripts.bench.wire_fuzz import JSON, texts

pytestmark = pytest.mark.unit

ODD_VALUES = [None, True, False, 0, -1, 1, 2**63, 1.5, -0.5, math.nan, math.inf, -math.inf, "", "x",
              "x" * 129, "x" * 600, "view", "purchase", "mobile", "invalid", [], {}, ["a"], 1e7, 1e7 + 1,
              # the limits of udfs.messages.bounds: each side of every one
              2**63 - 1, -2**63, -2**63 - 1, 10**400, -10**400, int(sys.float_info.max), TS_MAX_MS,
              TS_MAX_MS + 1, "\ufffd", "u\ufffd", "\ud800", "é", "future", "a\\u0000b", {"k": 1.0}]
PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
# formats whose fields are all scalars: any mutation of theirs can be passed to the constructor too
FLAT = [cls for cls in ENVELOPED if not any(isinstance(strip(f.type)[0], type) and issubclass(strip(f.type)[0], Part)
                                      or "tuple" in str(f.type) for f in fields(cls))]


def outcome(f, *args):
    try:
        return ("ok", f(*args))
    except MessageError as e:
        return ("error", e.field, e.reason, e.kind)


def built(cls, doc):
    return cls(**{k: v for k, v in doc.items() if k not in ("schema", "v")})


def ways(cls, doc):
    """The outcomes of every way in that can take ``doc``, all to be equal. With several faults
    each reports the first it meets in the order it was given the fields: the record's key
    order, or the keyword order, here the same."""
    text = json.dumps(doc, allow_nan=True)      # ASCII: a lone surrogate is a \\u escape
    out = {"from_dict": outcome(cls.from_dict, doc), "str": outcome(cls.decode, text),
           "bytes": outcome(cls.decode, text.encode())}
    if any(PAIR.search(t) for t in texts(doc)):
        # json.dumps writes a str's surrogate pair as two escapes, which JSON reads as one
        # character: the text is another record than the dict (clean, where the dict is not)
        del out["str"], out["bytes"]
    names = {f.name for f in fields(cls)}
    if cls in FLAT and doc.get("schema") == cls.SCHEMA and doc.get("v") == cls.VERSION \
            and set(doc) - {"schema", "v"} <= names and all(f.name in doc for f in fields(cls) if f.required):
        out["constructor"] = outcome(built, cls, doc)   # (other docs are a TypeError there, by design)
    return out


def show(got) -> str:
    return "\n".join(f"{k}: {v}" for k, v in got.items())


def mutations(doc, rng, n):
    names = [k for k in doc if k not in ("schema", "v")]
    for _ in range(n):
        d = dict(doc)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.2:
                d.pop(rng.choice(names), None)
            elif op < 0.3:
                d[rng.choice(["extra", "Type", "tz"])] = 1
            elif op < 0.4:
                d[rng.choice(names)] = d.get(rng.choice(names))   # another field's value
            else:
                d[rng.choice(names)] = rng.choice(ODD_VALUES)
        yield d


def test_some_formats_are_flat():
    assert {c.__name__ for c in FLAT} >= {"ClickEvent", "Impression", "DeadLetter"}


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
def test_every_way_in_agrees(cls):
    rng = random.Random(11)
    doc = EXAMPLES[cls].to_dict()
    assert all(o == ("ok", EXAMPLES[cls]) for o in ways(cls, doc).values())
    seen_errors = 0
    for d in mutations(doc, rng, 2000):
        got = ways(cls, d)
        first = got["from_dict"]
        assert all(o == first for o in got.values()), (d, show(got))
        if first[0] == "ok":   # int widened to float alike, whichever way in
            assert all({k: type(getattr(o[1], k)) for k in o[1].__struct_fields__}
                       == {k: type(getattr(first[1], k)) for k in first[1].__struct_fields__}
                       for o in got.values())
        seen_errors += first[0] == "error"
    assert seen_errors > 500      # the mutations did reach the error paths


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_every_way_in_agrees_on_generated_values(cls, data):
    """Any JSON value (huge and boundary numbers, unclean text, wrong types) in up to three fields."""
    doc = EXAMPLES[cls].to_dict()
    names = [k for k in doc if k not in ("schema", "v")]
    for k in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        doc[k] = data.draw(JSON)
    got = ways(cls, doc)
    assert all(o == got["from_dict"] for o in got.values()), show(got)
