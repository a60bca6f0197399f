"""msgspec's validation errors as the formats' ``MessageError``: a field path and a reason.

msgspec states its path only inside the message text (``Expected `int` >= 1 - at
`$.ads[0].rank```), so the text is parsed here: the wording below is msgspec 0.22's,
pinned in constraints.txt, and ``tests/unit/test_messages_errors.py`` holds one case of
each form, so an upgrade that rewords one fails there rather than in a dead letter.
Reasons are reworded into the project's terms (``must be <= 50``, ``'tv' is not one of
mobile, desktop, tablet, app``). Two things msgspec does not say are looked up in the
record, on this error path only: which key of an object field holds the bad value
(msgspec writes ``timings_ms[...]``), and whether a number out of range was an integer
literal or a non-finite float.
"""
from __future__ import annotations

import json
import math
import re
import typing
from collections import abc
from functools import lru_cache
from typing import Any

import msgspec

from udfs.convert import convert
from udfs.errors import MessageError
from udfs.messages.bounds import FLOAT_MAX, NOT_UTF8, clean_text, show
from udfs.messages.fields import strip

_AT = re.compile(r" - at `(key` in `)?\$([^`]*)`$")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_NAMED = re.compile(r"Object (missing required|contains unknown) field `(.*)`$", re.S)
_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`$")
_BOUND = re.compile(r"Expected `(int|float)(?: \| null)?` (>=|<=|>|<) (\S+)$")
_LENGTH = re.compile(r"Expected `(str|array|object)(?: \| null)?` of length (<=|>=) (\d+)$")
_ENUM = re.compile(r"Invalid enum value (.*)$", re.S)
_RANGE = ("Number out of range", "Integer value out of range")
_WORD = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false", "object": "an object",
         "array": "a list", "null": "null"}
_GOT = {**_WORD, "bool": "a boolean"}
_KIND = {msgspec.inspect.StrType: "str", msgspec.inspect.LiteralType: "str", msgspec.inspect.BoolType: "bool",
         msgspec.inspect.StructType: "object", msgspec.inspect.DictType: "object",
         msgspec.inspect.VarTupleType: "array"}
_UNSET = object()
_LIMIT = 64   # characters of a value quoted in a reason (as bounds.show)


def translate(cls: type, e: msgspec.ValidationError, *, doc: Any = _UNSET, raw: Any = None) -> MessageError:
    """``e`` raised validating into ``cls`` as a MessageError. ``doc``: the value being
    converted, when there is one; else ``raw``, the JSON text, parsed only if needed.
    Never raises: it runs inside the decoders' per-record guard."""
    label = getattr(cls, "SCHEMA", "") or cls.__name__
    try:
        return _translate(cls, label, e, _Record(doc, raw))
    except Exception:  # noqa: BLE001 - then msgspec's own words, unparsed
        return MessageError(label, "<payload>", _quote(str(e), 200))


def _translate(cls: type, label: str, e: msgspec.ValidationError, record: "_Record") -> MessageError:
    text = str(e)
    at = _AT.search(text)
    reason, is_key = (text[:at.start()], bool(at.group(1))) if at else (text, False)
    parts: list = _parts(at.group(2)) if at else []
    named = _NAMED.match(reason)
    if named:
        parts.append(named.group(2))
        return MessageError(label, _dotted(parts),
                            "required field is missing" if named.group(1).startswith("missing") else "unknown field")
    if "..." in parts:
        parts = _name_key(cls, parts, record)
    # a key that could not be named (the record unreadable past the fault): the object field it is in
    where = parts[:parts.index("...")] if "..." in parts else parts
    return MessageError(label, _dotted(where), _reason(cls, parts, reason, is_key, record))


def _reason(cls: type, parts: list, reason: str, is_key: bool, record: "_Record") -> str:
    envelope = parts[0] if len(parts) == 1 and getattr(cls, "SCHEMA", "") else None
    if m := _TYPE.match(reason):
        got = m.group(2)
        if got == "float" and parts and record.may_hold_long_int() and type(record.value(parts)) is int:
            got = "int"   # msgspec's parser reads an integer literal past 64 bits as a float
        got = _GOT.get(got, got)
        if not parts:
            return f"expected a JSON object, got {got}"
        if envelope == "v":
            return f"version must be an integer, got {got}"
        if envelope == "schema":
            return f"expected {cls.SCHEMA!r}, got {got}"
        want = m.group(1).removesuffix(" | null").split(" | ")   # several: a union (consent)
        return f"expected {' or '.join(_WORD.get(w, w) for w in want)}, got {got}"
    if m := _BOUND.match(reason):
        value = record.value(parts) if record.known else None
        if (type(value) is float and not math.isfinite(value)) or abs(float(m.group(3))) == FLOAT_MAX:
            return "must be finite" + ("" if value is None else f", got {show(value)}")
        return f"must be {m.group(2)} {m.group(3)}"
    if m := _LENGTH.match(reason):
        kind, op, n = m.groups()
        if kind == "str":
            if op == "<=":
                return f"a key is longer than {n} characters" if is_key else f"longer than {n} characters"
            return "must not be empty" if n == "1" else f"shorter than {n} characters"
        return f"more than {n} items" if op == "<=" else f"fewer than {n} items"
    if m := _ENUM.match(reason):
        if not clean_text(m.group(1)):   # as for any string: not UTF-8 is said before "not one of"
            return NOT_UTF8
        value = _quote(m.group(1))
        if envelope == "v":
            return f"unsupported version {value} (this reader knows {', '.join(map(str, cls.VERSIONS))})"
        if envelope == "schema":
            return f"expected {cls.SCHEMA!r}, got {value}"
        choices = typing.get_args(strip(_type_at(cls, parts))[0])
        return f"{value} is not one of {', '.join(map(str, choices))}"
    if reason in _RANGE:   # a literal msgspec's parser cannot hold: said as for a value code passed
        return _out_of_range(cls, parts, reason, record.value(parts))
    return _quote(reason, 200)   # a wording this module does not know: msgspec's own, bounded


def _out_of_range(cls: type, parts: list, reason: str, value: Any) -> str:
    declared = _type_at(cls, parts)
    info = _info(declared)
    if isinstance(info, msgspec.inspect.IntType):
        if type(value) is int and info.le is not None and value > info.le:
            return f"must be <= {info.le}"
        if type(value) is int and info.ge is not None and value < info.ge:
            return f"must be >= {info.ge}"
        return "integer out of range"
    if isinstance(info, (msgspec.inspect.FloatType, msgspec.inspect.AnyType)):
        if type(value) is float:
            return f"must be finite, got {show(value)}"
        return "integer out of range" if type(value) is int or reason != _RANGE[0] else "number out of range"
    want = _WORD.get(_KIND.get(type(info), ""), "another type")
    union = msgspec.inspect.type_info(strip(declared)[0])
    if isinstance(union, msgspec.inspect.UnionType):   # several types (consent): as msgspec orders them
        kinds = sorted({_KIND.get(type(t), "") for t in union.types if not isinstance(t, msgspec.inspect.NoneType)})
        want = " or ".join(_WORD.get(k, "another type") for k in kinds)
    return f"expected {want}, got {'an integer' if type(value) is int else 'a number'}"


@lru_cache(maxsize=256)
def _info(tp: Any) -> Any:
    """msgspec's description of a declared type, without its ``Meta`` and ``| None`` wrappers."""
    info = msgspec.inspect.type_info(tp)
    while True:
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        elif isinstance(info, msgspec.inspect.UnionType):
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
        else:
            return info


class _Record:
    """The record an error is about, parsed from its text on first use (error path only)."""

    def __init__(self, doc: Any, raw: Any) -> None:
        self.known = doc is not _UNSET
        self.doc, self.raw = doc, raw

    def get(self) -> Any:
        if not self.known:
            self.known = True
            try:
                self.doc = json.loads(self.raw)
            except (ValueError, RecursionError, TypeError):   # unreadable past the fault msgspec found
                self.doc = _UNSET
        return self.doc

    def may_hold_long_int(self) -> bool:
        """Whether the record can hold an integer literal outside -2**63..2**64-1 (19 digits at
        least): a regex over the text, not a parse, when the record has not been parsed yet."""
        if self.known:
            return True
        return re.search(r"\d{19}" if isinstance(self.raw, str) else rb"\d{19}", self.raw) is not None

    def value(self, parts: list) -> Any:
        node = self.get()
        for p in parts:
            try:
                node = node[p]
            except (KeyError, IndexError, TypeError):
                return None
        return None if node is _UNSET else node


def unclean(cls: type, doc: Any) -> MessageError | None:
    """The first string of ``doc`` that cannot be UTF-8 (a lone surrogate: msgspec's convert raises
    ``UnicodeEncodeError`` comparing it to a choice, without a path), as the field's error."""
    label = getattr(cls, "SCHEMA", "") or cls.__name__
    todo: list = [([], doc)]
    while todo:
        parts, node = todo.pop()
        items = node.items() if isinstance(node, abc.Mapping) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            if isinstance(k, str) and not clean_text(k, True):
                return MessageError(label, _dotted(parts), f"key {show(k)}: {NOT_UTF8}")
            if isinstance(v, str) and not clean_text(v, True):
                return MessageError(label, _dotted(parts + [k]), NOT_UTF8)
            todo.append((parts + [k], v))
    return None


def _name_key(cls: type, parts: list, record: _Record) -> list:
    """``parts`` with the ``...`` msgspec writes for an object field's key replaced by the first
    key whose value fails the field's value type (left as it is when the record is unreadable)."""
    i = parts.index("...")
    mapping = record.value(parts[:i])
    if not isinstance(mapping, abc.Mapping):
        return parts
    value_type = _type_at(cls, parts[:i + 1])
    for k, v in mapping.items():
        try:
            convert(v, value_type, strict=True)
        except msgspec.ValidationError:
            return parts[:i] + [k] + parts[i + 1:]
    return parts


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls, include_extras=True)   # ~50 µs a call: once per class


def _type_at(cls: type, parts: list) -> Any:
    """The declared type of the value at ``parts`` in a record of ``cls`` (Any when unknown)."""
    tp: Any = cls
    for p in parts:
        base = strip(tp)[0]
        origin, args = typing.get_origin(base), typing.get_args(base)
        if isinstance(base, type) and issubclass(base, msgspec.Struct) and isinstance(p, str):
            tp = _hints(base).get(p, Any)
        elif origin is tuple and args:
            tp = args[0]
        elif origin in (dict, abc.Mapping) and args:
            tp = args[1]
        else:
            return Any
    return tp


def _parts(path: str) -> list:
    return [name or (int(i) if i.isdigit() else i) for name, i in _PART.findall(path)]


def _dotted(parts: list) -> str:
    """``ads[0].rank``, ``timings_ms.total``; the whole record is ``<payload>`` (and an unknown
    field may be named "")."""
    if not parts:
        return "<payload>"
    out = ""
    for i, p in enumerate(parts):
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
    return out


def _quote(text: str, limit: int = _LIMIT) -> str:
    """msgspec's quoting of a value made ASCII and short, as ``bounds.show`` quotes."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit - 3] + "..."

