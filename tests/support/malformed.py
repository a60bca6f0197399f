"""Malformed records drawn by hypothesis from a valid one: what the live-job fuzz tests send.

Each draw takes a valid record of a format and breaks it one way — a field dropped, a
field given any JSON value (huge integers, NaN, control characters, lone surrogates,
nesting), an unknown field, the bytes cut short, bytes that are not UTF-8, or bytes
that are not JSON at all. ``rejected_sample`` keeps only draws the format's decoder
rejects, so a test knows each must end as exactly one dead letter.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.errors import MessageError

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 80), max_value=2 ** 80),
    st.sampled_from([10 ** 400, 2 ** 63 - 1, -1, 0]), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),
    st.sampled_from(["\ud800", "\ufffd", "x" * 5000]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _dumps(doc) -> bytes:
    # allow_nan: NaN and Infinity literals are part of what a broken producer sends
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def broken(draw, valid: dict) -> bytes:
    doc = dict(valid)
    how = draw(st.sampled_from(["drop", "retype", "extra", "truncate", "not_utf8", "garbage"]))
    key = draw(st.sampled_from(sorted(doc)))
    if how == "drop":
        doc.pop(key)
    elif how == "retype":
        doc[key] = draw(_JSON)
    elif how == "extra":
        doc[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in valid))] = draw(_JSON)
    raw = _dumps(doc)
    if how == "truncate":
        raw = raw[:draw(st.integers(min_value=0, max_value=len(raw) - 1))]
    elif how == "not_utf8":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xfe\xfe"])) + raw[at:]
    elif how == "garbage":
        raw = draw(st.binary(max_size=200))
    return raw


def rejected_sample(cls, valid: dict, n: int, **decode_kw) -> list[bytes]:
    """``n`` distinct malformed records of ``cls`` that ``cls.decode`` rejects (deterministic)."""
    out: list[bytes] = []

    @settings(max_examples=n * 4, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(raw=broken(valid))
    def collect(raw):
        if len(out) >= n or raw in out:
            return
        try:
            cls.decode(raw, **decode_kw)
        except MessageError:
            out.append(raw)

    collect()
    return out
