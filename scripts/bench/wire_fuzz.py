"""Malformed wire inputs, drawn by Hypothesis: one home for the decoders' fuzz strategies.

Mutated valid messages (fields replaced, dropped, added, nested past any parser's depth,
integers past json's digit limit, one character of text made invalid), random JSON values
and the boundary values every format has. Two users: the property tests
(``tests/unit/test_messages_fuzz.py``, ``tests/unit/test_messages_paths.py``) and the decoder
equivalence benchmark (``scripts/bench/decode_equiv.py``), which draws the same inputs
outside pytest — so a library here, below the tests, and not in them (the import rules keep
product and scripts from importing tests). Hypothesis is a test/bench dependency: nothing
in ``udfs/`` imports this.
"""
from __future__ import annotations

import copy
import json
import math
import re

from hypothesis import strategies as st

from udfs.messages.bounds import INT_MAX, INT_MIN, TS_MAX_MS
from udfs.messages.examples import EXAMPLES

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
