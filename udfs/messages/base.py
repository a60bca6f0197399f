"""Shared machinery of the wire formats: JSON objects decoded by msgspec into frozen Structs.

A message class derives from :class:`Message` with a ``SCHEMA`` name and ``VERSION`` and
declares its fields as ``name: type = spec(rules)`` (:mod:`udfs.messages.fields`). On the
wire every message is one JSON object carrying ``"schema"`` and ``"v"`` beside its fields.
Decoding is strict: a missing, mistyped, out-of-range or unknown field, a wrong schema or
an unknown version raises :class:`~udfs.errors.MessageError` naming the field. Adding a
field is a new version: old readers refuse the unknown field, so the writers' ``VERSION`` goes
up. A format whose readers must go on reading records of before (the site's clickstream, the
ad server's requests, a served log still in the topic) lists them in ``VERSIONS``: one class
decodes them all, a field added later takes its default in an older record, and the format's
``check()`` holds each version to its own shape. A topic keeps its name while its readers read
every version it carries; a change no reader can bridge gets a new topic suffix.

msgspec checks types, bounds, choices, lengths and unknown fields while it parses (in C,
without an intermediate dict: issue #12). What it cannot state runs after it, here: the
envelope must be present, text must have come from valid UTF-8 (``bounds.clean_text``),
the format's cross-field ``check()``, and the caller's ``TimeBounds``. A message built in
code passes the same rules (the class's ``__call__``; decoding never calls it).

``decode`` and ``from_dict`` raise nothing else, whatever the input: one bad record must
cost that record, never the job that reads it (issue #11).
"""
from __future__ import annotations

import json
import sys
import typing
from collections import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import msgspec

from udfs.convert import convert
from udfs.errors import MessageError
from udfs.messages.bounds import NOT_UTF8, TimeBounds, clean_text, show
from udfs.messages.fields import declare, fields, spec, strip, ts_spec  # noqa: F401 - the formats' API
from udfs.messages.wire_errors import translate, unclean

_STR, _STRS, _PART, _PARTS, _KEYS = range(5)   # what the text check does with a field


@dataclass(frozen=True)
class _Plan:
    """What a class's checks need, looked up once when the class is made: the code path builds
    an object per ranked ad, and each lookup per call showed."""
    label: str                  # who an error is about: the schema, or a part's class name
    message: bool               # carries the envelope
    names: frozenset            # the fields code may pass ...
    required: frozenset         # ... and must
    text: tuple                 # (field, _STR.._KEYS, U+FFFD allowed, part class) of fields with text
    parts: tuple                # the entries of ``text`` that hold parts
    rules: bool                 # the class has a check() of its own


def _text_plan(cls: type) -> tuple[tuple[str, int, bool, type | None], ...]:
    """(field, what to check, U+FFFD allowed, part class) of every field of ``cls`` that can hold text."""
    plan = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for name in cls.__struct_fields__:
        tp, extra = strip(hints[name])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        item = strip(args[0])[0] if origin is tuple else None
        if tp is str:
            plan.append((name, _STR, bool(extra.get("replaced_ok")), None))
        elif _is_part(tp):
            plan.append((name, _PART, False, tp))
        elif item is str or _is_part(item):
            plan.append((name, _STRS if item is str else _PARTS, False, None if item is str else item))
        elif origin in (dict, abc.Mapping):
            plan.append((name, _KEYS, False, None))
    return tuple(plan)


def _is_part(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, _Object)


def encode_json(value: Any) -> bytes:
    """JSON bytes as every format writes them (``Message.encode``): one encoder for the messages,
    the plain records the synthetic world writes, and the dead letters' size arithmetic."""
    return msgspec.json.encode(value)


class _Format(msgspec.StructMeta):
    """Makes a class declared like a frozen dataclass a strict msgspec Struct."""

    def __new__(mcls, name, bases, ns, **config):
        schema = ns.get("SCHEMA")
        if schema:   # the envelope: typed for msgspec, None by default so code need not pass it
            version = ns.get("VERSION", getattr(bases[0], "VERSION", 1))
            versions = ns.setdefault("VERSIONS", (version,))   # what a reader decodes; code writes VERSION
            if version not in versions:
                raise TypeError(f"{name}: VERSION {version} is not among VERSIONS {versions}")
            ann = ns.setdefault("__annotations__", {})
            ann["schema"], ns["schema"] = typing.Optional[Literal[schema]], None
            ann["v"], ns["v"] = typing.Optional[Literal[versions]], None
        declare(ns, vars(sys.modules[ns["__module__"]]))
        # kw_only: a required field may follow one with a default; msgspec does not inherit it
        config = {"frozen": True, "kw_only": True, "forbid_unknown_fields": True, **config}
        cls = super().__new__(mcls, name, bases, ns, **config)
        info = msgspec.structs.fields(cls)
        text = _text_plan(cls)
        cls._plan = _Plan(schema or name, bool(schema), frozenset(f.name for f in info),
                          frozenset(f.name for f in info if f.required), text,
                          tuple(t for t in text if t[1] in (_PART, _PARTS)),
                          cls.check.__qualname__ != "_Object.check")
        if schema:
            cls._decoder = msgspec.json.Decoder(cls)
        return cls

    def __call__(cls, *args, **kwargs):
        # Only code comes here: msgspec builds what it decodes without calling the class. So an
        # object built in code is converted as a decoded one is (int widened to float alike) and
        # checked by the same rules.
        plan = cls._plan
        if args or not plan.required <= kwargs.keys() <= plan.names:
            kwargs = msgspec.structs.asdict(super().__call__(*args, **kwargs))   # raises the TypeError
        if plan.message:
            kwargs.setdefault("schema", cls.SCHEMA)
            kwargs.setdefault("v", cls.VERSION)
        if plan.parts:
            _parts_are_objects(cls, kwargs)
        return _converted(cls, kwargs, deep=False)


class _Object(msgspec.Struct, metaclass=_Format):
    def check(self) -> None:
        """Cross-field rules; override and raise ``self.error(field, reason)``."""

    def error(self, field: str, reason: str) -> MessageError:
        return MessageError(type(self)._plan.label, field, reason)

    @classmethod
    def from_dict(cls, data: Any, *, bounds: TimeBounds | None = None, now_ms: int | None = None):
        """The object in a decoded JSON object; raises :class:`MessageError` only (see ``decode``).
        A part's errors are labelled with its class name (the catalogue's entities are parts)."""
        try:
            if type(data) is not dict and isinstance(data, abc.Mapping):
                data = dict(data)   # msgspec reads a dict; a Mapping's own faults surface here, as themselves
        except Exception as e:  # noqa: BLE001 - per record, as decode
            raise MessageError(cls._plan.label, "<payload>", _unexpected(e)) from None
        return _bounded(_converted(cls, data, deep=True), bounds, now_ms)


class Message(_Object):
    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    VERSIONS: ClassVar[tuple[int, ...]] = (1,)
    _decoder: ClassVar[msgspec.json.Decoder]

    # declared here so that they come first on the wire; each format narrows them to its own
    schema: str | None = None
    v: int | None = None

    # ----------------------------------------------------------- wire
    def to_dict(self) -> dict:
        """The wire form as JSON types (lists, not tuples: ``msgspec.to_builtins`` keeps tuples)."""
        return msgspec.json.decode(msgspec.json.encode(self))

    def to_json(self) -> str:
        """The wire form as text (what Flink's string sinks take)."""
        return msgspec.json.encode(self).decode()

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes | str | abc.Mapping, *, bounds: TimeBounds | None = None,
               now_ms: int | None = None):
        """The message in ``raw``, or :class:`MessageError` (and nothing else) saying what is wrong.

        Bytes must be UTF-8. With ``bounds``, ``ts`` must also fall in its window around
        ``now_ms``, the caller's clock (an event too far ahead: kind ``future``).
        """
        t = type(raw)
        if t is bytearray or t is memoryview:
            raw, t = bytes(raw), bytes
        elif t is not str and t is not bytes:
            return cls.from_dict(raw, bounds=bounds, now_ms=now_ms)
        try:
            msg = cls._decoder.decode(raw)
        except Exception as e:  # noqa: BLE001 - per record: whatever msgspec raises is this record's error
            raise _refused(cls, raw, e) from None
        # A decoded string can hold U+FFFD only if the text has it or a \u escape (a lone
        # surrogate escape and invalid UTF-8 msgspec refuses itself): most records skip the walk.
        text = ("\\u" in raw or "\ufffd" in raw) if t is str else (b"\\u" in raw or b"\xef\xbf\xbd" in raw)
        _settle(msg, text=text)
        return _bounded(msg, bounds, now_ms)



class Part(_Object):
    """A nested object inside a message (validated like one; the path is added by the parent)."""


def replace(obj: _Object, **changes) -> Any:
    """``obj`` with ``changes``, checked as an object built in code is (``msgspec.structs.replace``
    alone would skip the rules)."""
    return type(obj)(**{**msgspec.structs.asdict(obj), **changes})


def _unexpected(e: Exception) -> str:
    """An exception no rule foresaw, as a reason: its class first, then a bounded message."""
    return f"{type(e).__name__}: {ascii(str(e)[:160])[1:-1]}"


def _parts_are_objects(cls: type, data: dict) -> None:
    """A nested object built in code is its part's class (built, so checked, on its own): what
    lets the code path skip walking the parts' text. msgspec would also convert a dict."""
    for name, kind, _, part in cls._plan.parts:
        v = data.get(name)
        if kind == _PART and v is not None and type(v) is not part:
            raise MessageError(cls._plan.label, name, f"expected {part.__name__}, got {type(v).__name__}")
        if kind == _PARTS and v is not None:
            for i, item in enumerate(v):
                if type(item) is not part:
                    raise MessageError(cls._plan.label, f"{name}[{i}]",
                                       f"expected {part.__name__}, got {type(item).__name__}")


def _converted(cls: type, data: Any, *, deep: bool):
    """``data`` (a dict of field values) as a checked ``cls``; ``deep``: walk nested parts' text too
    (parts built in code were checked when they were built)."""
    try:
        obj = convert(data, cls, strict=True)
    except msgspec.ValidationError as e:
        raise translate(cls, e, doc=data) from None
    except Exception as e:  # noqa: BLE001 - per record, as decode
        raise (isinstance(e, UnicodeEncodeError) and unclean(cls, data)
               or MessageError(cls._plan.label, "<payload>", _unexpected(e))) from None
    return _settle(obj, text=True, deep=deep)


def _settle(obj, *, text: bool, deep: bool = True):
    """The rules msgspec cannot state, on an object it has built: envelope present, clean
    text (when ``text``), the cross-field ``check()``."""
    plan = type(obj)._plan
    try:
        if plan.message:
            if obj.schema is None:
                raise MessageError(plan.label, "schema", f"expected {plan.label!r}, got None")
            if obj.v is None:
                raise MessageError(plan.label, "v", "version must be an integer, got None")
        if text and plan.text:
            _check_text(obj, plan.label, "", deep)
        if plan.rules:
            obj.check()
    except MessageError:
        raise
    except Exception as e:  # noqa: BLE001 - a guard for what the rules did not foresee
        raise MessageError(plan.label, "<payload>", _unexpected(e)) from None
    return obj


def _bounded(msg, bounds: TimeBounds | None, now_ms: int | None):
    if bounds is not None:
        if now_ms is None:
            raise TypeError("decode/from_dict: bounds need the caller's clock, now_ms")
        bounds.check(msg, now_ms)
    return msg


def _refused(cls: type, raw: str | bytes, e: Exception) -> MessageError:
    """Why msgspec refused ``raw``, worded as the project's rules (never raising: it runs in
    decode's guard)."""
    try:
        return _why(cls, raw, e)
    except Exception as x:  # noqa: BLE001 - a fault of this error path is still this record's error
        return MessageError(cls.SCHEMA, "<payload>", _unexpected(x))


def _why(cls: type, raw: str | bytes, e: Exception) -> MessageError:
    """Bytes that are not UTF-8 first (the whole record is), then "not JSON", then the field."""
    schema = cls.SCHEMA
    if type(raw) is bytes:
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as u:
            return MessageError(schema, "<payload>", f"{NOT_UTF8} ({u.reason} at byte {u.start})")
    if isinstance(e, msgspec.ValidationError) and (" - at `" not in str(e) or _well_formed(raw)):
        return translate(cls, e, raw=raw)
    if not isinstance(e, (msgspec.ValidationError, msgspec.DecodeError, UnicodeError)):
        return MessageError(schema, "<payload>", _unexpected(e))
    # Not JSON to msgspec. json.loads reads three things msgspec does not: NaN and Infinity
    # literals, a lone surrogate escape, a str holding a lone surrogate. Their field's rules
    # then say which field is wrong ("must be finite", "not UTF-8") instead of "<payload>".
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as j:
        return MessageError(schema, "<payload>", f"not JSON ({j.msg} at {j.pos})")
    except RecursionError:   # the parser's own depth limit, from input nested ~1000 deep
        return MessageError(schema, "<payload>", "not JSON: nested too deeply (RecursionError)")
    except Exception as x:  # noqa: BLE001 - e.g. an integer literal past the int-digits limit (ValueError)
        return MessageError(schema, "<payload>", _unexpected(x))
    try:
        cls.from_dict(doc)
    except MessageError as m:
        return m
    return MessageError(schema, "<payload>", f"not JSON ({e})")   # json.loads is laxer: msgspec decides


def _well_formed(raw: str) -> bool:
    """Whether ``raw`` is JSON at all. msgspec reports the first fault in document order, so a
    record cut or damaged after a bad value would blame that value; it is "not JSON" first.
    (Not asked when the fault is the record's own type: not an object is not an object.)"""
    try:
        msgspec.json.decode(raw)
    except msgspec.ValidationError:   # (a DecodeError subclass) a number too long for it: JSON still
        return True
    except msgspec.DecodeError:
        return False
    except Exception:  # noqa: BLE001 - e.g. RecursionError, nested deeper than it follows: JSON still
        return True
    return True


def _check_text(obj, label: str, prefix: str, deep: bool) -> None:
    """Every string of ``obj`` is text that came from valid UTF-8 (``bounds.clean_text``)."""
    for name, kind, replaced_ok, _ in type(obj)._plan.text:
        v = getattr(obj, name)
        if v is None:
            continue
        if kind == _STR:
            if not v.isascii() and not clean_text(v, replaced_ok):   # isascii: O(1)
                raise MessageError(label, prefix + name, NOT_UTF8)
        elif kind == _STRS:
            for i, s in enumerate(v):
                if not clean_text(s):
                    raise MessageError(label, f"{prefix}{name}[{i}]", NOT_UTF8)
        elif kind == _KEYS:
            for k, x in v.items():
                if not clean_text(k):
                    raise MessageError(label, prefix + name, f"key {show(k)}: {NOT_UTF8}")
                if type(x) is str and not clean_text(x):
                    raise MessageError(label, f"{prefix}{name}.{k}", NOT_UTF8)
        elif deep and kind == _PART:
            _check_text(v, label, f"{prefix}{name}.", deep)
        elif deep:
            for i, part in enumerate(v):
                _check_text(part, label, f"{prefix}{name}[{i}].", deep)
