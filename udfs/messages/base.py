"""Shared machinery of the wire formats: JSON objects validated into frozen dataclasses.

A message class is a frozen dataclass deriving from :class:`Message` with a
``SCHEMA`` name and ``VERSION``. On the wire every message is one JSON object
carrying ``"schema"`` and ``"v"`` beside its fields. Decoding is strict: a
missing, mistyped, out-of-range or unknown field, a wrong schema or an unknown
version raises :class:`~udfs.errors.MessageError` naming the field. Adding a
field is a new version (a new module constant and topic suffix).

``decode`` and ``from_dict`` raise nothing else, whatever the input: one bad record
must cost that record, never the job that reads it (issue #11). The limits every
value is held to are in :mod:`udfs.messages.bounds`.
"""
from __future__ import annotations

import dataclasses
import functools
from collections import abc
import json
import math
import types
import typing
from typing import Any, ClassVar, Mapping

from udfs.errors import MessageError
from udfs.messages.bounds import (FLOAT_MAX, INT_MAX, INT_MIN, NOT_UTF8, TS_MAX_MS, TimeBounds, clean_text,
                                  show)
from udfs.messages.compiled import FALLBACK, compile_builder

_MISSING = dataclasses.MISSING
_scan = json.JSONDecoder().scan_once


def _loads(text: str) -> Any:
    """``json.loads`` without its wrapper's two regex passes when the text is one bare value."""
    try:
        obj, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end == len(text):
        return obj
    return json.loads(text)   # whitespace around it, trailing data or not JSON: the full rules


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    """A field's rules resolved once per class: decoding is a hot path."""
    name: str
    required: bool
    nullable: bool
    base: Any          # the non-optional annotated type
    scalar: bool       # str/int/float/bool: checked inline, no recursion
    meta: Mapping[str, Any]
    # The rules of ``meta`` as attributes: a dict lookup per rule per field showed in profiles.
    choices: frozenset | None = None
    lo: float | None = None
    hi: float | None = None
    max_len: int | None = None
    replaced_ok: bool = False   # U+FFFD is data here (a dead letter quoting undecodable input)
    mapping: bool = False       # an object field: its keys and item count are bounded


@functools.lru_cache(maxsize=None)
def _layout(cls: type) -> tuple[tuple[_FieldPlan, ...], frozenset[str]]:
    hints = typing.get_type_hints(cls)
    plans = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = typing.get_args(tp)
        nullable = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
        base = [a for a in args if a is not type(None)][0] if nullable else tp
        m = f.metadata
        lo, hi = m.get("min"), m.get("max")
        if base is int:   # every integer field fits a Java long, whatever its spec leaves open
            lo = INT_MIN if lo is None else max(lo, INT_MIN)
            hi = INT_MAX if hi is None else min(hi, INT_MAX)
        plans.append(_FieldPlan(f.name, f.default is _MISSING and f.default_factory is _MISSING,
                                nullable, base, base in (str, int, float, bool), m,
                                None if m.get("choices") is None else frozenset(m["choices"]),
                                lo, hi, m.get("max_len"), bool(m.get("replaced_ok")),
                                typing.get_origin(base) in (dict, Mapping, abc.Mapping)))
    return tuple(plans), frozenset(p.name for p in plans)


def _scalar(tp: Any, value: Any, schema: str, path: str) -> Any:
    if tp is str:
        if type(value) is str:
            return value
        raise MessageError(schema, path, f"expected a string, got {show(value)}")
    if tp is int:
        if type(value) is int:
            return value
        raise MessageError(schema, path, f"expected an integer, got {show(value)}")
    if tp is float:
        if type(value) is float:
            return value
        if type(value) is int:
            return _widen(value, schema, path)
        raise MessageError(schema, path, f"expected a number, got {show(value)}")
    if type(value) is bool:
        return value
    raise MessageError(schema, path, f"expected true/false, got {show(value)}")


def _widen(value: int, schema: str, path: str) -> float:
    """An integer in a float field as a float; one past the float range is an error, not an
    ``OverflowError`` (an integer literal of 10**400 is valid JSON)."""
    if -FLOAT_MAX <= value <= FLOAT_MAX:
        return float(value)
    raise MessageError(schema, path, "integer out of range")


def spec(*, choices: tuple | None = None, min: float | None = None, max: float | None = None,
         max_len: int | None = 256, default: Any = _MISSING, doc: str = "",
         replaced_ok: bool = False) -> Any:
    """A dataclass field with validation rules (kept in the field's metadata).

    ``max`` bounds a number, or the items of a list or an object; ``max_len`` a string, or
    the keys of an object. ``replaced_ok`` lets a string hold U+FFFD (see ``bounds``).
    """
    meta = {"choices": choices, "min": min, "max": max, "max_len": max_len, "doc": doc}
    if replaced_ok:
        meta["replaced_ok"] = True
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def ts_spec(doc: str = "epoch milliseconds") -> Any:
    """An event-time field: epoch ms a ``datetime`` can represent (``TimeBounds`` narrows it
    to the configured window where a job reads it)."""
    return spec(min=0, max=TS_MAX_MS, doc=doc)


def _unexpected(e: Exception) -> str:
    """An exception no rule foresaw, as a reason: its class first, then a bounded message."""
    return f"{type(e).__name__}: {ascii(str(e)[:160])[1:-1]}"


class Message:
    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    # ----------------------------------------------------------- wire
    def to_dict(self) -> dict:
        return {"schema": self.SCHEMA, "v": self.VERSION, **_plain(self)}

    def to_json(self) -> str:
        """The wire form as text (what Flink's string sinks take)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def encode(self) -> bytes:
        return self.to_json().encode()

    @classmethod
    def decode(cls, raw: bytes | str | Mapping[str, Any], *, bounds: TimeBounds | None = None,
               now_ms: int | None = None):
        """The message in ``raw``, or :class:`MessageError` (and nothing else) saying what is wrong.

        Bytes are decoded as strict UTF-8. With ``bounds``, ``ts`` must also fall in its
        window around ``now_ms``, the caller's clock (an event too far ahead: kind ``future``).
        """
        try:
            if isinstance(raw, (bytes, bytearray, memoryview)):
                try:
                    raw = bytes(raw).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise MessageError(cls.SCHEMA, "<payload>",
                                       f"{NOT_UTF8} ({e.reason} at byte {e.start})") from None
            if isinstance(raw, str):
                try:
                    raw = _loads(raw)
                except json.JSONDecodeError as e:
                    raise MessageError(cls.SCHEMA, "<payload>", f"not JSON ({e.msg} at {e.pos})") from None
        except MessageError:
            raise
        except RecursionError:   # the parser's own depth limit, from input nested ~1000 deep
            raise MessageError(cls.SCHEMA, "<payload>", "not JSON: nested too deeply (RecursionError)") from None
        except Exception as e:  # noqa: BLE001 - per record: any fault is this record's error, e.g. an
            # integer literal past the int-digits limit (ValueError)
            raise MessageError(cls.SCHEMA, "<payload>", _unexpected(e)) from None
        return cls.from_dict(raw, bounds=bounds, now_ms=now_ms)

    @classmethod
    def from_dict(cls, data: Any, *, bounds: TimeBounds | None = None, now_ms: int | None = None):
        """The message in a decoded JSON object; raises :class:`MessageError` only (see ``decode``)."""
        try:
            msg = cls._from_dict(data)
        except MessageError:
            raise
        except Exception as e:  # noqa: BLE001 - a guard for what the rules above did not foresee
            raise MessageError(cls.SCHEMA, "<payload>", _unexpected(e)) from None
        if bounds is not None:
            if now_ms is None:
                raise TypeError("from_dict: bounds need the caller's clock, now_ms")
            bounds.check(msg, now_ms)
        return msg

    @classmethod
    def _from_dict(cls, data: Any):
        # type() first: isinstance against typing.Mapping costs a microsecond per message
        if type(data) is not dict and not isinstance(data, abc.Mapping):
            raise MessageError(cls.SCHEMA, "<payload>", f"expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != cls.SCHEMA:
            raise MessageError(cls.SCHEMA, "schema", f"expected {cls.SCHEMA!r}, got {show(data.get('schema'))}")
        v = data.get("v")
        # type() too: 1.0 == 1 and True == 1, but the format's version is an integer
        if type(v) is not int:
            raise MessageError(cls.SCHEMA, "v", f"version must be an integer, got {show(v)}")
        if v != cls.VERSION:
            raise MessageError(cls.SCHEMA, "v", f"unsupported version {show(v)} (this reader knows {cls.VERSION})")
        fast = _compiled(cls)
        if fast is not None:
            obj = fast(data)
            if obj is not FALLBACK:
                return obj
        return _build(cls, data, cls.SCHEMA, "", envelope=True)   # slow path: raises the exact error

    def check(self) -> None:
        """Cross-field rules; override and raise ``self.error(field, reason)``."""

    def error(self, field: str, reason: str) -> MessageError:
        return MessageError(self.SCHEMA, field, reason)

    def __post_init__(self) -> None:
        # Constructing in code goes through the same rules as decoding.
        _validate_fields(self, self.SCHEMA, "")
        self.check()


_LEAVES = frozenset((str, int, float, bool, type(None)))


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def _plain(obj: Any) -> Any:
    # Exact type tests first: encoding a response walks ~50 values, and is_dataclass plus an
    # isinstance against typing.Mapping on each cost more than the rest of the encoding.
    t = type(obj)
    if t in _LEAVES:
        return obj
    names = _field_names(t)
    if names is not None:
        return {n: v if type(v := getattr(obj, n)) in _LEAVES else _plain(v) for n in names}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


_ENVELOPE = frozenset(("schema", "v"))


@functools.lru_cache(maxsize=None)
def _compiled(cls: type):
    """The class's compiled decoder for valid input (``udfs.messages.compiled``), or None."""
    plans, _ = _layout(cls)
    return compile_builder(cls, plans, _defaults(cls)[0], _ENVELOPE)


@functools.lru_cache(maxsize=None)
def _defaults(cls: type) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    """A class's plain defaults and its default factories, looked up once."""
    plain = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not _MISSING}
    factories = tuple((f.name, f.default_factory) for f in dataclasses.fields(cls)
                      if f.default_factory is not _MISSING)
    return plain, factories


def _build(cls: type, body: Mapping[str, Any], schema: str, prefix: str, *, envelope: bool = False):
    plans, names = _layout(cls)
    if not names.issuperset(body):
        extra = body.keys() - names
        if envelope:
            extra -= _ENVELOPE
        if extra:
            raise MessageError(schema, prefix + sorted(extra)[0], "unknown field")
    kwargs = {}
    for fp in plans:
        if fp.name not in body:
            if fp.required:
                raise MessageError(schema, prefix + fp.name, "required field is missing")
            continue
        v = body[fp.name]
        if v is None:
            if not fp.nullable:
                raise MessageError(schema, prefix + fp.name, "must not be null")
            kwargs[fp.name] = None
        elif fp.scalar:
            # Type-checked once, by the constructor's _validate_fields; only widen int → float.
            kwargs[fp.name] = _widen(v, schema, prefix + fp.name) if fp.base is float and type(v) is int else v
        else:
            kwargs[fp.name] = _coerce(fp.base, v, schema, prefix + fp.name)
    # What the frozen dataclass __init__ does (fill defaults, set fields, __post_init__),
    # without its object.__setattr__ per field: half the decode time before.
    obj = object.__new__(cls)
    plain, factories = _defaults(cls)
    d = obj.__dict__
    d.update(plain)
    for name, make in factories:
        d[name] = make()
    d.update(kwargs)
    obj.__post_init__()
    return obj


def _coerce(tp: Any, value: Any, schema: str, path: str) -> Any:
    """Turn JSON values into the annotated type, or raise naming ``path``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise MessageError(schema, path, "must not be null")
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, schema, path)
    if value is None:
        raise MessageError(schema, path, "must not be null")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise MessageError(schema, path, f"expected an object, got {type(value).__name__}")
        try:
            return _build(tp, value, schema, path + ".")
        except MessageError as e:
            if e.schema == schema:
                raise
            raise MessageError(schema, f"{path}.{e.field}", e.reason) from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise MessageError(schema, path, f"expected a list, got {type(value).__name__}")
        return tuple(_coerce(args[0], v, schema, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping, abc.Mapping):
        if not isinstance(value, Mapping):
            raise MessageError(schema, path, f"expected an object, got {type(value).__name__}")
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise MessageError(schema, path, f"keys must be strings, got {show(k)}")
            if not clean_text(k):
                raise MessageError(schema, path, f"key {show(k)}: {NOT_UTF8}")
            out[k] = _coerce(args[1], v, schema, f"{path}.{k}")
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise MessageError(schema, path, f"expected true/false, got {show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MessageError(schema, path, f"expected an integer, got {show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MessageError(schema, path, f"expected a number, got {show(value)}")
        if type(value) is float:
            if not math.isfinite(value):   # a mapping's values have no plan of their own
                raise MessageError(schema, path, f"must be finite, got {show(value)}")
            return value
        return _widen(value, schema, path)
    if tp is str:
        if not isinstance(value, str):
            raise MessageError(schema, path, f"expected a string, got {show(value)}")
        return value
    raise MessageError(schema, path, f"unsupported type {tp!r}")  # pragma: no cover


def _validate_fields(obj: Any, schema: str, prefix: str) -> None:
    plans, _ = _layout(type(obj))
    for fp in plans:
        v = getattr(obj, fp.name)
        if v is None:
            if not fp.nullable:
                raise MessageError(schema, prefix + fp.name, "must not be null")
            continue
        t = type(v)
        # Fast path: the common, valid scalar needs no call; anything else goes the long way.
        if fp.scalar and (t is fp.base or (t is int and fp.base is float)):
            pass
        elif fp.scalar:
            _scalar(fp.base, v, schema, prefix + fp.name)
        else:
            _check_type(fp.base, v, schema, prefix + fp.name)
        if t is str and not v.isascii() and not clean_text(v, fp.replaced_ok):   # isascii: O(1)
            raise MessageError(schema, prefix + fp.name, NOT_UTF8)
        if fp.choices is not None and v not in fp.choices:
            raise MessageError(schema, prefix + fp.name,
                               f"{show(v)} is not one of {', '.join(map(str, fp.meta['choices']))}")
        if t is str:
            if fp.max_len is not None and len(v) > fp.max_len:
                raise MessageError(schema, prefix + fp.name, f"longer than {fp.max_len} characters")
        elif t is float or t is int:
            if t is float and not math.isfinite(v):
                raise MessageError(schema, prefix + fp.name, f"must be finite, got {show(v)}")
            if t is int and fp.base is float and not -FLOAT_MAX <= v <= FLOAT_MAX:
                raise MessageError(schema, prefix + fp.name, "integer out of range")
            if fp.lo is not None and v < fp.lo:
                raise MessageError(schema, prefix + fp.name, f"must be >= {fp.lo}, got {show(v)}")
            if fp.hi is not None and v > fp.hi:
                raise MessageError(schema, prefix + fp.name, f"must be <= {fp.hi}, got {show(v)}")
        elif t is tuple or fp.mapping:
            if fp.hi is not None and len(v) > fp.hi:
                raise MessageError(schema, prefix + fp.name, f"more than {fp.hi} items")
            if fp.mapping and fp.max_len is not None and any(len(k) > fp.max_len for k in v):
                raise MessageError(schema, prefix + fp.name, f"a key is longer than {fp.max_len} characters")


def _check_type(tp: Any, v: Any, schema: str, path: str) -> None:
    """Type check for objects built in code (decoding has already coerced)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        tp = [a for a in args if a is not type(None)][0]
        origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(v, tuple):
            raise MessageError(schema, path, f"expected a tuple, got {type(v).__name__}")
        return
    if origin in (dict, Mapping, abc.Mapping):
        if not isinstance(v, Mapping):
            raise MessageError(schema, path, f"expected a mapping, got {type(v).__name__}")
        return
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, tp):
            raise MessageError(schema, path, f"expected {tp.__name__}")
        return
    if tp is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    elif tp is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, tp)
    if not ok:
        raise MessageError(schema, path, f"expected {tp.__name__}, got {show(v)}")


class Part:
    """A nested object inside a message (validated like one; the path is added by the parent)."""

    def __post_init__(self) -> None:
        _validate_fields(self, type(self).__name__, "")
