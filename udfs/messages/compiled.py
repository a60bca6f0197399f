"""A compiled decoder per all-scalar message class: the valid case as straight-line code.

The generic decoder (``base._build`` + ``_validate_fields``) walks the field plans and
looks up each rule per value; for the clickstream that was most of the profile job's
per-event Python time. For a class whose fields are all scalars this writes one
function (as ``dataclasses`` writes ``__init__``) that checks every rule inline and
returns ``FALLBACK`` at the first irregularity; the caller then runs the generic path,
which raises the exact error it always did. So the two cannot disagree on what is
valid or on what an error says (``tests/unit/test_messages_compiled.py`` compares
them on thousands of mutated inputs).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from udfs.messages.bounds import FLOAT_MAX, clean_text

FALLBACK = object()
_MISSING = object()


def compile_builder(cls: type, plans, defaults: Mapping[str, Any],
                    envelope: frozenset) -> Callable[[Mapping], Any] | None:
    """``build(data) -> instance | FALLBACK`` for ``cls``, or None when a field is not a scalar."""
    if not all(fp.scalar for fp in plans):
        return None
    ns: dict[str, Any] = {"FALLBACK": FALLBACK, "MISSING": _MISSING, "new": object.__new__,
                          "cls": cls, "isfinite": math.isfinite, "clean": clean_text,
                          "FLOAT_MAX": FLOAT_MAX,
                          "allowed": frozenset(fp.name for fp in plans) | envelope}
    src = ["def build(d):",
           "    if not allowed.issuperset(d): return FALLBACK",
           "    o = new(cls)",
           "    od = o.__dict__"]
    for i, fp in enumerate(plans):
        src.append(f"    v = d.get({fp.name!r}, MISSING)")
        if fp.required:
            src.append("    if v is MISSING: return FALLBACK")
        else:
            ns[f"default_{i}"] = defaults[fp.name]
            src.append(f"    if v is MISSING: v = default_{i}")
        src.append("    if v is None:")
        src.append("        pass" if fp.nullable else "        return FALLBACK")
        src.append("    else:")
        src.extend("        " + line for line in _checks(i, fp, ns))
        src.append(f"    od[{fp.name!r}] = v")
    src += ["    o.check()", "    return o"]
    exec("\n".join(src), ns)  # noqa: S102 - source built above from the class's own field plans
    return ns["build"]


def _checks(i: int, fp, ns: dict) -> list[str]:
    """The inline rules of one non-null scalar ``v`` (same order and meaning as base)."""
    out: list[str] = []
    if fp.base is str:
        out.append("if type(v) is not str: return FALLBACK")
        if fp.choices is None or not all(clean_text(c) for c in fp.choices):
            # (a choice field's values are clean text, so its choices check already refuses it)
            out.append(f"if not v.isascii() and not clean(v, {bool(fp.replaced_ok)}): return FALLBACK")
        if fp.max_len is not None:
            out.append(f"if len(v) > {int(fp.max_len)}: return FALLBACK")
    elif fp.base is bool:
        out.append("if type(v) is not bool: return FALLBACK")
    elif fp.base is int:
        out.append("if type(v) is not int: return FALLBACK")
    else:  # float: an integer is widened, a bool is not a number
        out.append("if type(v) is int:")
        out.append("    if not -FLOAT_MAX <= v <= FLOAT_MAX: return FALLBACK")   # would not widen
        out.append("    v = float(v)")
        out.append("elif type(v) is not float: return FALLBACK")
        out.append("if not isfinite(v): return FALLBACK")
    if fp.base in (int, float):
        if fp.lo is not None:
            ns[f"lo_{i}"] = fp.lo
            out.append(f"if v < lo_{i}: return FALLBACK")
        if fp.hi is not None:
            ns[f"hi_{i}"] = fp.hi
            out.append(f"if v > hi_{i}: return FALLBACK")
    if fp.choices is not None:
        ns[f"choices_{i}"] = fp.choices
        out.append(f"if v not in choices_{i}: return FALLBACK")
    return out
