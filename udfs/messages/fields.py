"""How a wire format declares its fields, and the msgspec types that declaration becomes.

A format declares a field as it would a dataclass field, ``name: type = spec(rules)``;
when the class is made (``base``), each becomes the type msgspec checks while it parses,
``Annotated[type, Meta(...)]``, with the spec's default as the field's default. The
formats do not write those ``Annotated`` types themselves for two reasons: a format then
reads as a list of fields and their rules, and the rules every field of a type shares are
stated here once instead of in every annotation: every integer fits a Java ``long`` (the
JVM reads the same records), every number is finite, and a string is at most 256
characters unless its spec says otherwise.
"""
from __future__ import annotations

import types
import typing
from collections import abc
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping

import msgspec
from msgspec import Meta

from udfs.messages.bounds import FLOAT_MAX, INT_MAX, INT_MIN, TS_MAX_MS

NODEFAULT = msgspec.NODEFAULT
ENVELOPE = ("schema", "v")   # on the wire beside every format's fields; not declared by the formats


@dataclass(frozen=True)
class Spec:
    """A field's rules as declared; read once, when the class is made."""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    max_len: int | None = None
    default: Any = NODEFAULT
    doc: str = ""
    replaced_ok: bool = False
    above: float | None = None


def spec(*, choices: tuple | None = None, min: float | None = None, max: float | None = None,
         max_len: int | None = 256, default: Any = NODEFAULT, doc: str = "",
         replaced_ok: bool = False, above: float | None = None) -> Any:
    """A field with validation rules (the value of ``name: type = spec(...)`` in a format).

    ``choices`` are a string's values, or the values of a list's items; ``max`` bounds a number,
    or the items of a list or an object (``above``: a number must be greater than it, where
    ``min`` lets it equal); ``max_len`` a string, or the keys of an object. ``replaced_ok`` lets a string hold U+FFFD (see ``bounds``).
    """
    return Spec(None if choices is None else tuple(choices), min, max, max_len, default, doc, replaced_ok,
                above)


def ts_spec(doc: str = "epoch milliseconds") -> Any:
    """An event-time field: epoch ms a ``datetime`` can represent (``TimeBounds`` narrows it
    to the configured window where a job reads it)."""
    return spec(min=0, max=TS_MAX_MS, doc=doc)


def declare(ns: dict, module_globals: dict) -> None:
    """Rewrite a class body's ``name: type = spec(...)`` fields in place into msgspec's
    ``name: Annotated[type, Meta(...)] = default`` (a field without a spec keeps its default
    and gets the shared rules only)."""
    ann = ns.get("__annotations__", {})
    for name, tp in list(ann.items()):
        if isinstance(tp, str):   # ``from __future__ import annotations``: resolved as get_type_hints would
            tp = eval(tp, module_globals, ns)  # noqa: S307 - the class's own annotation text
        ann[name] = tp
        if tp is typing.ClassVar or typing.get_origin(tp) is typing.ClassVar or name in ENVELOPE:
            continue
        s = ns.get(name, NODEFAULT)
        if not isinstance(s, Spec):
            s = Spec(default=s)
        ann[name] = field_type(tp, s)
        if s.default is NODEFAULT:
            ns.pop(name, None)
        else:
            ns[name] = s.default


def field_type(tp: Any, s: Spec) -> Any:
    """The msgspec type of a field annotated ``tp`` with the rules ``s``."""
    nullable, base = _optional(tp)
    t = _typed(base, s)
    if s.doc or s.replaced_ok:   # the doc is for docs/messages.md; replaced_ok for the text check
        t = Annotated[t, Meta(description=s.doc or None, extra={"replaced_ok": True} if s.replaced_ok else None)]
    return typing.Optional[t] if nullable else t


def _optional(tp: Any) -> tuple[bool, Any]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return True, args[0] if args[1] is type(None) else args[1]
    return False, tp


def _typed(base: Any, s: Spec) -> Any:
    origin, args = typing.get_origin(base), typing.get_args(base)
    if s.choices is not None and origin is not tuple:
        return Literal[s.choices]   # type: ignore[valid-type]
    if base is str:
        return str if s.max_len is None else Annotated[str, Meta(max_length=s.max_len)]
    if base is int:
        return Annotated[int, Meta(ge=INT_MIN if s.min is None else max(s.min, INT_MIN),
                                   le=INT_MAX if s.max is None else min(s.max, INT_MAX))]
    if base is float:   # NaN and ±inf fail these bounds: json.loads and code can make them, JSON cannot
        low = {"gt": float(s.above)} if s.above is not None else {
            "ge": -FLOAT_MAX if s.min is None else float(s.min)}
        return Annotated[float, Meta(**low, le=FLOAT_MAX if s.max is None else float(s.max))]
    if origin is tuple:   # tuple[X, ...]; its choices are its items' (the catalogue's devices)
        t = tuple[_typed(args[0], Spec(choices=s.choices)), ...]   # type: ignore[misc]
    elif origin in (dict, abc.Mapping):
        t = Mapping[_typed(args[0], Spec(max_len=s.max_len)), _typed(args[1], Spec())]   # type: ignore[misc]
    else:
        return base   # bool, a nested object
    return t if s.max is None else Annotated[t, Meta(max_length=int(s.max))]


def fields(cls: type) -> tuple[msgspec.structs.FieldInfo, ...]:
    """A format's own fields (``msgspec.structs.fields`` without the envelope), in wire order."""
    return tuple(f for f in msgspec.structs.fields(cls) if f.name not in ENVELOPE)


def strip(tp: Any) -> tuple[Any, dict]:
    """``tp`` without ``Annotated`` and ``| None`` wrappers, and the ``Meta.extra`` they carried."""
    extra: dict = {}
    while True:
        if typing.get_origin(tp) is Annotated:
            for m in tp.__metadata__:
                extra.update(getattr(m, "extra", None) or {})
            tp = tp.__origin__
            continue
        nullable, base = _optional(tp)
        if not nullable:
            return tp, extra
        tp = base
