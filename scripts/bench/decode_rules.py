"""The rules a library decoder cannot state in its schema, run after it has decoded.

Shared by the msgspec and pydantic prototypes of ``scripts/bench_decode.py`` (issue #12):
neither library's string constraints can refuse U+FFFD or a lone surrogate (the
project's "not UTF-8" signal, see ``udfs.messages.bounds``) short of a regex per field,
neither can check ``ts`` against the caller's clock, and a cross-field rule raised from
``__post_init__`` / a model validator loses the field it is about (both libraries wrap
it into an error at the object's path). So these run on the decoded object and raise
:class:`MessageError` naming the field, as today's decoder does.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from udfs.errors import MessageError
from udfs.messages.bounds import NOT_UTF8, TimeBounds, clean_text, show

# The one field whose text may hold U+FFFD: a dead letter quoting undecodable input.
REPLACED_OK = {("dead_letter", "original")}


def check_text(schema: str, obj: Any, names: Callable[[Any], Iterable[tuple[str, Any]]],
               prefix: str = "") -> None:
    """Every string of ``obj`` (nested objects, lists, mapping keys) is clean UTF-8 text.

    ``names(obj)`` yields (field, value) of one decoded object: the libraries store
    fields differently (msgspec slots, pydantic ``__dict__``)."""
    for name, v in names(obj):
        path = prefix + name
        t = type(v)
        if t is str:
            if not v.isascii() and not clean_text(v, (schema, path) in REPLACED_OK):
                raise MessageError(schema, path, NOT_UTF8)
        elif t is tuple:
            for i, item in enumerate(v):
                if type(item) is not str and item is not None:
                    check_text(schema, item, names, f"{path}[{i}].")
        elif t is dict:
            for k in v:
                if not clean_text(k):
                    raise MessageError(schema, path, f"key {show(k)}: {NOT_UTF8}")
        elif v is not None and t not in (int, float, bool):
            check_text(schema, v, names, path + ".")


def _click_rules(o: Any) -> tuple[str, str] | None:
    if o.type in ("view", "cart", "fav", "purchase") and not o.item_id:
        return "item_id", f"required for type {o.type!r}"
    if o.type == "search" and not o.query:
        return "query", "required for type 'search'"
    if o.type == "purchase" and o.price is None:
        return "price", "required for type 'purchase'"
    return None


def _ranked_rules(o: Any) -> tuple[str, str] | None:
    if o.fallback and not o.fallback_reason:
        return "fallback_reason", "required when fallback is true"
    ranks = [a.rank for a in o.ads]
    if ranks != list(range(1, len(ranks) + 1)):
        return "ads", f"ranks must be 1..{len(ranks)} in order, got {ranks}"
    return None


# The formats' ``check()`` rules that span fields (the "not empty" ones became min_length).
CROSS = {"clickstream": _click_rules, "ranked_ads": _ranked_rules}


def may_hold_unclean_text(raw: Any) -> bool:
    """False when no decoded string of ``raw`` can hold U+FFFD or a lone surrogate: neither
    is in the text as such, and there is no ``\\u`` escape that could spell one. (A raw
    surrogate in a ``str`` input never gets this far: the libraries refuse to encode it.)
    Walking every string costs more than the decoding itself, and real records rarely escape."""
    if isinstance(raw, str):
        return "\\u" in raw or "\ufffd" in raw
    raw = bytes(raw) if not isinstance(raw, bytes) else raw
    return b"\\u" in raw or b"\xef\xbf\xbd" in raw


def after_decode(schema: str, obj: Any, names, bounds: TimeBounds | None, now_ms: int | None,
                 raw: Any = None) -> Any:
    """Text (when ``raw`` may hold unclean text, or is not given), cross-field rules, then the
    ts window: today's order within one object."""
    if raw is None or may_hold_unclean_text(raw):
        check_text(schema, obj, names)
    rule = CROSS.get(schema)
    if rule is not None:
        bad = rule(obj)
        if bad is not None:
            raise MessageError(schema, *bad)
    if bounds is not None:
        bounds.check(obj, now_ms)   # reads obj.ts and obj.SCHEMA: the project's own check
    return obj


def dotted(parts: Iterable[Any]) -> str:
    """A location as today's decoder names it: ``ads[0].rank``, ``timings_ms.total``."""
    parts = list(parts)
    out = ""
    for i, p in enumerate(parts):
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
    return out if parts else "<payload>"   # a field may be named "" (an unknown one)
