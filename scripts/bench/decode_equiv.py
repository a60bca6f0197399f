"""Does a candidate decoder accept, reject and decode exactly what the reference does?

Used by ``scripts/bench_decode.py``, whose reference is the previous, hand-written decoder
(``scripts/bench/decode_previous.py``). Every input goes through the reference and through the
candidate; each outcome is accept (with the decoded value as JSON types), reject
(``MessageError``: field, reason, kind) or crash (any other exception, which the
project's decoders never raise). Disagreements are grouped into classes (the shape of the
field and reason, digits and quoted values blanked) with one example each. When both
reject, whether they name the same field and dead-letter kind is counted apart: that is
error quality, not acceptance.

The generated inputs are the property tests' own strategies (``scripts/bench/wire_fuzz.py``:
mutated messages, random JSON values), drawn through hypothesis outside pytest with a
fixed seed.
"""
from __future__ import annotations

import collections
import json
import re
from typing import Any, Callable

import msgspec

from udfs.errors import MessageError


def outcome(decode: Callable, plain: Callable, raw: Any, bounds, now_ms) -> tuple:
    try:
        obj = decode(raw, bounds, now_ms)
    except MessageError as e:
        return ("reject", e.field, e.reason, e.kind)
    except Exception as e:  # noqa: BLE001 - what a candidate raises besides MessageError is a finding
        return ("crash", type(e).__name__, str(e)[:160])
    try:
        return ("accept", json.dumps(plain(obj), sort_keys=True, allow_nan=True))
    except Exception as e:  # noqa: BLE001 - a decoded value that cannot be written back out
        return ("crash", f"plain: {type(e).__name__}", str(e)[:160])


def _shape(text: str) -> str:
    text = re.sub(r"'[^']*'|`[^`]*`|\"[^\"]*\"", "…", text)
    return re.sub(r"\d+", "N", text)[:70]


def _show(o: tuple) -> str:
    if o[0] == "accept":
        return "accepted"
    if o[0] == "reject":
        return f"field '{o[1]}': {o[2][:120]}" + ("" if o[3] == "invalid" else f" [kind {o[3]}]")
    return f"raised {o[1]}: {o[2][:120]}"


def _klass(ref: tuple, cand: tuple) -> str | None:
    """The disagreement class of two outcomes, or None when they agree on acceptance and value."""
    if ref[0] == "accept" and cand[0] == "accept":
        if ref[1] == cand[1]:
            return None
        a, b = json.loads(ref[1]), json.loads(cand[1])
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return f"decodes to a different value ({', '.join(keys)})"
    if cand[0] == "crash":
        return f"raises {cand[1]} (not MessageError)"
    if ref[0] == "accept":
        return f"rejects what the reference accepts: {_shape(cand[1])}: {_shape(cand[2])}"
    if cand[0] == "accept":
        return f"accepts what the reference rejects: {_shape(ref[1])}: {_shape(ref[2])}"
    return None


class Tally:
    """Counts for one candidate over every input it was given."""

    def __init__(self) -> None:
        self.inputs = self.agree = 0
        self.by_source: collections.Counter = collections.Counter()
        self.by_format: collections.Counter = collections.Counter()
        self.classes: dict[str, dict] = {}
        self.same_field = self.other_field = 0
        self.other_field_by_source: collections.Counter = collections.Counter()
        self.rejects_by_fault: collections.Counter = collections.Counter()
        self.other_field_by_fault: collections.Counter = collections.Counter()
        self.field_classes: dict[str, dict] = {}

    def add(self, fmt: str, source: str, raw: Any, ref: tuple, cand: tuple, fault: str | None = None) -> None:
        self.inputs += 1
        k = _klass(ref, cand)
        if k is None:
            self.agree += 1
            if ref[0] == "reject":
                if fault:
                    self.rejects_by_fault[fault] += 1
                if not self._fields(fmt, raw, ref, cand):
                    self.other_field_by_source[source] += 1
                    if fault:
                        self.other_field_by_fault[fault] += 1
            return
        self.by_source[source] += 1
        self.by_format[fmt] += 1
        entry = self.classes.setdefault(k, {"class": k, "count": 0, "example": _example(fmt, raw, ref, cand)})
        entry["count"] += 1

    def _fields(self, fmt, raw, ref, cand) -> bool:
        """Whether both name the same field and kind; counted, with a class when not."""
        if (ref[1], ref[3]) == (cand[1], cand[3]):
            self.same_field += 1
            return True
        self.other_field += 1
        k = f"previous '{_shape(ref[1])}' / candidate '{_shape(cand[1])}'"
        entry = self.field_classes.setdefault(k, {"class": k, "count": 0,
                                                  "example": _example(fmt, raw, ref, cand)})
        entry["count"] += 1
        return False

    def figures(self) -> dict:
        by_count = lambda d: sorted(d.values(), key=lambda e: -e["count"])  # noqa: E731
        return {"inputs": self.inputs, "agree": self.agree, "disagree": self.inputs - self.agree,
                "disagree_by_source": dict(self.by_source), "disagree_by_format": dict(self.by_format),
                "classes": by_count(self.classes),
                "both_reject_same_field": self.same_field, "both_reject_other_field": self.other_field,
                "both_reject_other_field_by_source": dict(self.other_field_by_source),
                # the invalid corpus, per fault class: records both reject / of those, naming another field
                "both_reject_by_fault": dict(self.rejects_by_fault),
                "both_reject_other_field_by_fault": dict(self.other_field_by_fault),
                "field_classes": by_count(self.field_classes)}


def _example(fmt: str, raw, ref, cand) -> dict:
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "backslashreplace")
    text = ascii(text[:200])[1:-1]
    return {"format": fmt, "input": text if len(text) <= 200 else text[:197] + "...", "previous": _show(ref),
            "candidate": _show(cand)}


def fuzz_inputs(cls: type, n: int, seed: int) -> tuple[list, int]:
    """``n`` inputs of the property tests' strategies (3/4 mutated messages, 1/4 random JSON),
    and how many batches hypothesis cut short.

    Drawn in batches of at most 100 (the tests' own size), each with its own seed. Until
    2026-12-02 a batch could stop with ``FlakyStrategyDefinition`` (``mutated`` edited a
    shared ``EDGES`` value in place; fixed in the tests since): still counted, and what a
    batch drew before that is kept, as any input is a valid input here."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st
    from hypothesis.errors import FlakyStrategyDefinition

    from scripts.bench import wire_fuzz as F
    out: list = []
    cut = 0

    def mutated(data):
        out.append(F.as_wire(data.draw, F.dumps(data.draw(F.mutated(cls)))))

    def random_json(value, envelope):
        if envelope and isinstance(value, dict):
            value = {**value, "schema": cls.SCHEMA, "v": cls.VERSION}
        out.append(F.dumps(value))

    for i in range(max(1, n // 25)):
        if len(out) >= n:
            break
        size = min(100, n - len(out))
        cfg = settings(max_examples=size, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        test = (given(data=st.data())(mutated) if i % 4 != 3 else
                given(value=F.JSON, envelope=st.booleans())(random_json))
        try:
            hseed(seed * 1000 + i)(cfg(test))()
        except FlakyStrategyDefinition:
            cut += 1
    return out[:n], cut


def side_by_side(cls: type, records: list[tuple[str, bytes]], cands: dict, bounds, now_ms) -> list[dict]:
    """One record per fault class: each decoder's error text (what a dead letter would say)."""
    rows, seen = [], set()
    for fault, raw in records:
        if fault in seen:
            continue
        seen.add(fault)
        row = {"format": cls.SCHEMA, "fault": fault}
        for name, (decode, plain) in cands.items():
            o = outcome(decode, plain, raw, bounds, now_ms)
            row[name] = (f"{cls.SCHEMA}: field '{o[1]}': {o[2]}"[:160] if o[0] == "reject" else _show(o))
        rows.append(row)
    return rows


def traps() -> dict:
    """msgspec behaviours the design works around (``udfs/messages/base.py``), checked on this install."""
    import collections.abc
    from typing import Literal, Optional
    out = {}
    tagged = msgspec.defstruct("T", [("n", int)], tag_field="schema", tag="t")
    out["tagged Struct accepts a record without its tag (so schema is a field)"] = _accepts(
        lambda: msgspec.json.decode(b'{"n":1}', type=tagged))
    v = msgspec.defstruct("V", [("v", Optional[Literal[1]])])
    for raw in (b'{"v":1.0}', b'{"v":true}'):
        out[f"Literal[1] | None accepts {raw.decode()}"] = _accepts(lambda: msgspec.json.decode(raw, type=v))

    class Failing(collections.abc.Mapping):
        def __getitem__(self, k):
            raise RuntimeError("no")

        def __iter__(self):
            return iter(["v"])

        def __len__(self):
            return 1
    try:
        msgspec.convert(Failing(), v)
        out["convert of a failing Mapping raises its error (else from_dict makes a dict first)"] = "accepted"
    except Exception as e:  # noqa: BLE001 - which exception is the finding
        out["convert of a failing Mapping raises its error (else from_dict makes a dict first)"] = type(e).__name__
    out["to_builtins keeps a tuple (so to_dict round-trips through JSON)"] = isinstance(
        msgspec.to_builtins({"a": (1,)})["a"], tuple)
    return out


def _accepts(f) -> bool:
    try:
        f()
        return True
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
