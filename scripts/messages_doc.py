"""Write docs/messages.md from the message classes themselves (fields, rules, docs, an example).

Run: .venv/bin/python -m scripts.messages_doc > docs/messages.md
tests/unit/test_messages_doc.py checks that the committed file matches this output.
"""
from __future__ import annotations

import json
import typing

import msgspec
from msgspec import inspect as mi

from udfs.config import load
from udfs.messages import ALL, CatalogChange, Consent, RequestContext, RankedAd, ServedAd, topics
from udfs.messages.base import fields, strip
from udfs.messages.bounds import FLOAT_MAX, INT_MAX, INT_MIN
from udfs.messages.catalog_change import ENTITIES, Schedule, Targeting

# bounds every field of a type has (stated once, in the introduction), not repeated per field
IMPLICIT = {INT_MIN, INT_MAX, -FLOAT_MAX, FLOAT_MAX}


def _unwrap(info) -> tuple[object, bool, str]:
    """(the type, nullable, its doc) of one field's msgspec type info."""
    nullable, doc = False, ""
    while True:
        if isinstance(info, mi.Metadata):
            doc = doc or (info.extra_json_schema or {}).get("description", "")
            info = info.type
        elif isinstance(info, mi.UnionType):
            nullable = any(isinstance(t, mi.NoneType) for t in info.types)
            rest = tuple(t for t in info.types if not isinstance(t, mi.NoneType))
            if len(rest) > 1:   # several types (clickstream's consent): named together
                return mi.UnionType(types=rest), nullable, doc
            info = rest[0]
        else:
            return info, nullable, doc


def _type_name(info) -> str:
    if isinstance(info, mi.LiteralType):
        return type(info.values[0]).__name__
    if isinstance(info, mi.StructType):
        return info.cls.__name__
    if isinstance(info, mi.UnionType):
        return " or ".join(_type_name(t) for t in info.types)
    if isinstance(info, mi.VarTupleType):
        return f"list[{_type_name(_unwrap(info.item_type)[0])}]"
    if isinstance(info, mi.DictType):
        return f"Mapping[{_type_name(info.key_type)}, {_type_name(_unwrap(info.value_type)[0])}]"
    return {mi.StrType: "str", mi.IntType: "int", mi.FloatType: "float", mi.BoolType: "bool"}[type(info)]


def _limits(info, declared) -> list[str]:
    out = []
    if isinstance(info, mi.LiteralType):   # in the declared order (msgspec's info sorts them)
        out.append("one of " + ", ".join(f"`{c}`" for c in typing.get_args(strip(declared)[0])))
    if isinstance(info, mi.VarTupleType) and isinstance(_unwrap(info.item_type)[0], mi.LiteralType):
        item = typing.get_args(strip(declared)[0])[0]
        out.append("items one of " + ", ".join(f"`{c}`" for c in typing.get_args(strip(item)[0])))
    if isinstance(info, (mi.IntType, mi.FloatType)):
        out += [f"{sign} {v}" for sign, v in (("≥", info.ge), (">", info.gt), ("≤", info.le))
                if v is not None and v not in IMPLICIT]
    if isinstance(info, mi.StrType) and info.max_length is not None:
        out.append(f"≤ {info.max_length} characters")
    if isinstance(info, (mi.VarTupleType, mi.DictType)) and info.max_length is not None:
        out.append(f"≤ {info.max_length} items")
    if isinstance(info, mi.DictType) and getattr(info.key_type, "max_length", None) is not None:
        out.append(f"keys ≤ {info.key_type.max_length} characters")
    return out


def table(cls) -> list[str]:
    info = {f.name: f for f in mi.type_info(cls).fields}
    hints = typing.get_type_hints(cls, include_extras=True)
    rows = ["| field | type | rules | meaning |", "|---|---|---|---|"]
    for f in fields(cls):
        tp, nullable, doc = _unwrap(info[f.name].type)
        rules = _limits(tp, hints[f.name])
        if f.required:
            rules.append("required")
        else:
            default = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
            rules.append(f"default `{json.dumps(msgspec.to_builtins(default))}`")
        name = _type_name(tp) + (" or None" if nullable else "")
        rows.append(f"| `{f.name}` | `{name}` | {'; '.join(rules)} | {doc} |")
    return rows


# ---------------------------------------------------------------- the catalogue change

def catalog_section(topic: str, example: CatalogChange) -> list[str]:
    """The catalogue change: a keyed record whose value is an entity, so a key table and one
    field table per entity kind instead of one message table."""
    out = [f"## `{CatalogChange.SCHEMA}` — topic `{topic}` (compacted)", "",
           (__import__(CatalogChange.__module__, fromlist=["x"]).__doc__ or "").strip(), "",
           "| key | value | meaning |", "|---|---|---|"]
    out += [f"| `{kind}:<id>` | `{kind}` object (below) | upsert |" for kind in ENTITIES]
    out += ["| any of these | null (tombstone) or JSON `null` | delete |", ""]
    for kind, cls in ENTITIES.items():
        out += [f"### `{kind}`", ""] + table(cls) + [""]
        for part in (Targeting, Schedule):
            if any(part.__name__ in str(f.type) for f in fields(cls)):
                out += [f"`{part.__name__}`:", ""] + table(part) + [""]
    key, value = example.encode()
    out += [f"Key `{key.decode()}`, value:", "", "```json",
            json.dumps(json.loads(value), indent=2, ensure_ascii=False), "```", ""]
    return out


def render() -> str:
    from udfs.messages.examples import EXAMPLES
    cfg = load("base")
    out = ["# Message formats", "",
           "Generated from `udfs/messages/` by `python -m scripts.messages_doc`; do not edit by hand.", "",
           "JSON on the wire, UTF-8, one object per Kafka record, keyed by user id where there is one.",
           "Every object carries `schema` and `v` (all but the catalogue change, the last section);",
           "readers reject an unknown version, an unknown field, a missing required field, a wrong type",
           "or an out-of-range value with an error naming the field (`udfs.errors.MessageError`; for the",
           "catalogue change `udfs.errors.CatalogError`). A new field means a new version, because an",
           "older reader refuses it. A format whose readers must go on reading older records lists the",
           "versions it reads (\"reads v1, v2\" below): in an older record a later field takes its default,",
           "and each version is held to its own shape. Its topic keeps its name while its readers read",
           "every version it carries (one user's records stay in order in one partition); a change no",
           "reader can bridge gets a new topic suffix. Writers write the newest version.", "",
           "Decoding raises that error and nothing else, for any input (one bad record costs that record,",
           "never the job): input that is not UTF-8 is rejected with `not UTF-8`, and so is a string field",
           "holding U+FFFD, because the JVM's string deserializer puts that character where the bytes were",
           "not UTF-8 before Python sees them (only `dead_letter.original` may hold it: it quotes such input).",
           "`v` must be an integer (`1.0` and `true` are refused). Every integer fits a signed 64-bit long,",
           "every number is finite, an integer in a number field must fit a float, and `ts` is epoch ms up",
           "to 9999-12-31 (those bounds are not repeated in the tables). Where the",
           "jobs read an input they also hold `ts` to the `messages` config: not before `min_ts_ms`",
           "(2000-01-01), and not more than `max_future_skew_ms` (5 min) ahead of the job's clock; a later",
           "one is dead-lettered with kind `future` and counted apart from `invalid`.", ""]
    for cls in ALL:
        topic = topics.name_of(cfg, topics.key_of(cls))
        if cls is CatalogChange:
            out += catalog_section(topic, EXAMPLES[cls])
            continue
        reads = f" (reads v{', v'.join(map(str, cls.VERSIONS))})" if len(cls.VERSIONS) > 1 else ""
        out += [f"## `{cls.SCHEMA}` v{cls.VERSION}{reads} — topic `{topic}`", "",
                (cls.__module__ and __import__(cls.__module__, fromlist=['x']).__doc__ or "").strip(), ""]
        out += table(cls) + [""]
        for part in (RequestContext, Consent, RankedAd, ServedAd):
            if any(part.__name__ in str(f.type) for f in fields(cls)):
                out += [f"`{part.__name__}`:", ""] + table(part) + [""]
        out += ["```json", json.dumps(EXAMPLES[cls].to_dict(), indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
