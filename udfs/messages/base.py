"""Shared machinery of the wire formats: JSON objects validated into frozen dataclasses.

A message class is a frozen dataclass deriving from :class:`Message` with a
``SCHEMA`` name and ``VERSION``. On the wire every message is one JSON object
carrying ``"schema"`` and ``"v"`` beside its fields. Decoding is strict: a
missing, mistyped, out-of-range or unknown field, a wrong schema or an unknown
version raises :class:`~udfs.errors.MessageError` naming the field. Adding a
field is a new version (a new module constant and topic suffix).
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
        plans.append(_FieldPlan(f.name, f.default is _MISSING and f.default_factory is _MISSING,
                                nullable, base, base in (str, int, float, bool), m,
                                None if m.get("choices") is None else frozenset(m["choices"]),
                                m.get("min"), m.get("max"), m.get("max_len")))
    return tuple(plans), frozenset(p.name for p in plans)


def _scalar(tp: Any, value: Any, schema: str, path: str) -> Any:
    if tp is str:
        if type(value) is str:
            return value
        raise MessageError(schema, path, f"expected a string, got {value!r}")
    if tp is int:
        if type(value) is int:
            return value
        raise MessageError(schema, path, f"expected an integer, got {value!r}")
    if tp is float:
        if type(value) is float or type(value) is int:
            return float(value)
        raise MessageError(schema, path, f"expected a number, got {value!r}")
    if type(value) is bool:
        return value
    raise MessageError(schema, path, f"expected true/false, got {value!r}")


def spec(*, choices: tuple | None = None, min: float | None = None, max: float | None = None,
         max_len: int | None = 256, default: Any = _MISSING, doc: str = "") -> Any:
    """A dataclass field with validation rules (kept in the field's metadata)."""
    meta = {"choices": choices, "min": min, "max": max, "max_len": max_len, "doc": doc}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


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
    def decode(cls, raw: bytes | str | Mapping[str, Any]):
        if isinstance(raw, (bytes, bytearray)):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise MessageError(cls.SCHEMA, "<payload>", f"not UTF-8 ({e.reason})") from None
        if isinstance(raw, str):
            try:
                raw = _loads(raw)
            except json.JSONDecodeError as e:
                raise MessageError(cls.SCHEMA, "<payload>", f"not JSON ({e.msg} at {e.pos})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, data: Any):
        # type() first: isinstance against typing.Mapping costs a microsecond per message
        if type(data) is not dict and not isinstance(data, abc.Mapping):
            raise MessageError(cls.SCHEMA, "<payload>", f"expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != cls.SCHEMA:
            raise MessageError(cls.SCHEMA, "schema", f"expected {cls.SCHEMA!r}, got {data.get('schema')!r}")
        v = data.get("v")
        if v != cls.VERSION:
            raise MessageError(cls.SCHEMA, "v", f"unsupported version {v!r} (this reader knows {cls.VERSION})")
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
            kwargs[fp.name] = float(v) if fp.base is float and type(v) is int else v
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
        return {str(k): _coerce(args[1], v, schema, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise MessageError(schema, path, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MessageError(schema, path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MessageError(schema, path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise MessageError(schema, path, f"expected a string, got {value!r}")
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
        if fp.choices is not None and v not in fp.choices:
            raise MessageError(schema, prefix + fp.name,
                               f"{v!r} is not one of {', '.join(map(str, fp.meta['choices']))}")
        if t is str:
            if fp.max_len is not None and len(v) > fp.max_len:
                raise MessageError(schema, prefix + fp.name, f"longer than {fp.max_len} characters")
        elif t is float or t is int:
            if t is float and not math.isfinite(v):
                raise MessageError(schema, prefix + fp.name, f"must be finite, got {v!r}")
            if fp.lo is not None and v < fp.lo:
                raise MessageError(schema, prefix + fp.name, f"must be >= {fp.lo}, got {v!r}")
            if fp.hi is not None and v > fp.hi:
                raise MessageError(schema, prefix + fp.name, f"must be <= {fp.hi}, got {v!r}")
        elif t is tuple and fp.hi is not None and len(v) > fp.hi:
            raise MessageError(schema, prefix + fp.name, f"more than {fp.hi} items")


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
        raise MessageError(schema, path, f"expected {tp.__name__}, got {v!r}")


class Part:
    """A nested object inside a message (validated like one; the path is added by the parent)."""

    def __post_init__(self) -> None:
        _validate_fields(self, type(self).__name__, "")
