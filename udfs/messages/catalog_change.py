"""Catalogue change (topic ``ads.catalog``, compacted): one advertiser, campaign or creative.

Key ``"<kind>:<id>"`` (kind ``advertiser``, ``campaign`` or ``creative``); value the
entity's JSON object, or null (a tombstone, also JSON ``null``) to delete it. The id
field may be left out of the value (it is taken from the key); if present it must
equal the key's id. Unlike the other formats the value carries no ``schema``/``v``
envelope: it is the entity itself, the same object a catalogue document lists
(``udfs.core.catalog.Catalog.from_json``). The entities (below) are the value's schema;
an unknown field, a wrong type or a broken rule raises :class:`~udfs.errors.CatalogError`
naming the entity, its id and the dotted field (e.g. ``targeting.devices[1]``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Union

from udfs.errors import CatalogError
from udfs.messages.clickstream import DEVICES

ADVERTISER_STATUSES = ("active", "suspended")
CAMPAIGN_STATUSES = ("active", "paused", "ended")
BID_TYPES = ("CPM", "CPC", "CPA", "oCPA")
REVIEW_STATUSES = ("pending", "approved", "rejected")
KINDS = ("advertiser", "campaign", "creative")


def _doc(default: Any = dataclasses.MISSING, *, doc: str = "", choices: tuple | None = None) -> Any:
    """A field's meaning and choices, for docs/messages.md; ``__post_init__`` enforces the rules."""
    meta = {"doc": doc, "choices": choices}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _fail(obj: Any, field: str, reason: str) -> CatalogError:
    return CatalogError(obj.ENTITY, getattr(obj, obj.ID_FIELD, None) if obj.ID_FIELD else None,
                        field, reason)


def _require_id(obj: Any, field: str) -> None:
    v = getattr(obj, field)
    if not isinstance(v, str) or not v.strip():
        raise _fail(obj, field, "must be a non-empty string")
    if len(v) > 128:
        raise _fail(obj, field, "longer than 128 characters")


def _check_choice(obj: Any, field: str, choices: tuple[str, ...]) -> None:
    v = getattr(obj, field)
    if v not in choices:
        raise _fail(obj, field, f"{v!r} is not one of {', '.join(choices)}")


def _check_number(obj: Any, field: str, *, min_: float = 0.0, strict: bool = False,
                  optional: bool = False) -> None:
    v = getattr(obj, field)
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail(obj, field, f"must be a finite number, got {v!r}")
    if v < min_ or (strict and v == min_):
        raise _fail(obj, field, f"must be {'>' if strict else '>='} {min_:g}, got {v!r}")


def _as_tuple(obj: Any, field: str) -> None:
    v = getattr(obj, field)
    if isinstance(v, list):
        object.__setattr__(obj, field, tuple(v))
    elif not isinstance(v, tuple):
        raise _fail(obj, field, f"expected a list, got {type(v).__name__}")


# --------------------------------------------------------------------- entities

class _Identified:
    """What the three entity kinds share: ``id`` is the value of their ``ID_FIELD``."""
    ENTITY: ClassVar[str] = ""
    ID_FIELD: ClassVar[str] = ""

    @property
    def id(self) -> str:
        return getattr(self, self.ID_FIELD)


@dataclass(frozen=True, kw_only=True)
class Advertiser(_Identified):
    ENTITY: ClassVar[str] = "advertiser"
    ID_FIELD: ClassVar[str] = "advertiser_id"

    advertiser_id: str = _doc(doc="non-empty, at most 128 characters (as every id)")
    name: str = _doc("")
    status: str = _doc("active", choices=ADVERTISER_STATUSES)

    def __post_init__(self) -> None:
        _require_id(self, "advertiser_id")
        _check_choice(self, "status", ADVERTISER_STATUSES)


@dataclass(frozen=True, kw_only=True)
class Targeting:
    """Who a campaign wants. Each dimension: empty tuple = anyone."""
    ENTITY: ClassVar[str] = "targeting"
    ID_FIELD: ClassVar[str] = ""

    geos: tuple[str, ...] = _doc((), doc="country/region codes")
    devices: tuple[str, ...] = _doc((), choices=DEVICES)
    age_bands: tuple[str, ...] = _doc(())
    genders: tuple[str, ...] = _doc(())
    interests: tuple[str, ...] = _doc((), doc="category ids")

    def __post_init__(self) -> None:
        for f in ("geos", "devices", "age_bands", "genders", "interests"):
            _as_tuple(self, f)
            for i, v in enumerate(getattr(self, f)):
                if not isinstance(v, str) or not v:
                    raise _fail(self, f"{f}[{i}]", f"must be a non-empty string, got {v!r}")
        for i, d in enumerate(self.devices):
            if d not in DEVICES:
                raise _fail(self, f"devices[{i}]", f"{d!r} is not one of {', '.join(DEVICES)}")


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """When a campaign runs: UTC hours of day (empty = all day) within [start_ts, end_ts)."""
    ENTITY: ClassVar[str] = "schedule"
    ID_FIELD: ClassVar[str] = ""

    hours: tuple[int, ...] = _doc((), doc="UTC hours 0..23; empty = all day")
    start_ts: int | None = _doc(None, doc="epoch ms, inclusive; null = no start bound")
    end_ts: int | None = _doc(None, doc="epoch ms, exclusive, after start_ts; null = open-ended")

    def __post_init__(self) -> None:
        _as_tuple(self, "hours")
        for i, h in enumerate(self.hours):
            if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23:
                raise _fail(self, f"hours[{i}]", f"must be an hour 0..23 (UTC), got {h!r}")
        for f in ("start_ts", "end_ts"):
            v = getattr(self, f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise _fail(self, f, f"must be epoch milliseconds >= 0, got {v!r}")
        if self.start_ts is not None and self.end_ts is not None and self.end_ts <= self.start_ts:
            raise _fail(self, "end_ts", "must be after start_ts")


@dataclass(frozen=True, kw_only=True)
class Campaign(_Identified):
    ENTITY: ClassVar[str] = "campaign"
    ID_FIELD: ClassVar[str] = "campaign_id"

    campaign_id: str = _doc()
    advertiser_id: str = _doc()
    status: str = _doc("active", choices=CAMPAIGN_STATUSES)
    daily_budget: float = _doc(doc=">= 0")
    bid_type: str = _doc(choices=BID_TYPES)
    bid: float = _doc(doc="> 0; per 1000 impressions (CPM), click (CPC), conversion (CPA/oCPA)")
    target_cpa: float | None = _doc(None, doc="> 0; required when bid_type is oCPA")
    targeting: Targeting = _doc(Targeting())
    schedule: Schedule = _doc(Schedule())

    def __post_init__(self) -> None:
        _require_id(self, "campaign_id")
        _require_id(self, "advertiser_id")
        _check_choice(self, "status", CAMPAIGN_STATUSES)
        _check_choice(self, "bid_type", BID_TYPES)
        _check_number(self, "daily_budget")
        _check_number(self, "bid", strict=True)
        _check_number(self, "target_cpa", strict=True, optional=True)
        if self.bid_type == "oCPA" and self.target_cpa is None:
            raise _fail(self, "target_cpa", "required when bid_type is 'oCPA'")
        for f, tp in (("targeting", Targeting), ("schedule", Schedule)):
            if not isinstance(getattr(self, f), tp):
                raise _fail(self, f, f"expected {tp.__name__}")


@dataclass(frozen=True, kw_only=True)
class Creative(_Identified):
    ENTITY: ClassVar[str] = "creative"
    ID_FIELD: ClassVar[str] = "creative_id"

    creative_id: str = _doc()
    ad_id: str = _doc()
    campaign_id: str = _doc()
    advertiser_id: str = _doc(doc="must be its campaign's advertiser (checked in a whole document)")
    item_id: str | None = _doc(None, doc="the promoted item, if any")
    category_id: str | None = _doc(None)
    brand_id: str | None = _doc(None)
    price: float | None = _doc(None, doc=">= 0; price of the promoted item")
    title: str = _doc("")
    landing_url: str = _doc("")
    review_status: str = _doc("pending", choices=REVIEW_STATUSES,
                              doc="a pending creative is reviewed on arrival (docs/ranking.md)")
    review_reason: str | None = _doc(None)

    def __post_init__(self) -> None:
        for f in ("creative_id", "ad_id", "campaign_id", "advertiser_id"):
            _require_id(self, f)
        _check_choice(self, "review_status", REVIEW_STATUSES)
        _check_number(self, "price", optional=True)
        for f in ("item_id", "category_id", "brand_id", "review_reason"):
            v = getattr(self, f)
            if v is not None and not isinstance(v, str):
                raise _fail(self, f, f"expected a string or null, got {v!r}")
        for f in ("title", "landing_url"):
            if not isinstance(getattr(self, f), str):
                raise _fail(self, f, f"expected a string, got {getattr(self, f)!r}")
        # title/landing_url/category may be missing here: review rejects such a creative.


Entity = Union[Advertiser, Campaign, Creative]
#: Kind (the key's prefix) -> the entity class that is the value's schema.
ENTITIES: dict[str, type] = {"advertiser": Advertiser, "campaign": Campaign, "creative": Creative}


# ----------------------------------------------------------- JSON <-> entities

def _coerce(tp: Any, value: Any, entity: str, eid: str | None, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        tp = [a for a in args if a is not type(None)][0]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None:
        raise CatalogError(entity, eid, path, "must not be null")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, entity, eid, path + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CatalogError(entity, eid, path, f"expected a list, got {type(value).__name__}")
        return tuple(_coerce(args[0], v, entity, eid, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CatalogError(entity, eid, path, f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CatalogError(entity, eid, path, f"expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise CatalogError(entity, eid, path, f"expected a string, got {value!r}")
        return value
    raise CatalogError(entity, eid, path, f"unsupported type {tp!r}")  # pragma: no cover


def _build(cls: type, data: Any, entity: str, eid: str | None, prefix: str = "") -> Any:
    """Build ``cls`` from a JSON object; errors name ``entity``/``eid`` and the dotted field."""
    if not isinstance(data, Mapping):
        raise CatalogError(entity, eid, prefix.rstrip(".") or "<value>",
                           f"expected a JSON object, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CatalogError(entity, eid, prefix + str(unknown[0]),
                           f"unknown field (known: {', '.join(names)})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CatalogError(entity, eid, prefix + f.name, "required field is missing")
            continue
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], entity, eid, prefix + f.name)
    try:
        return cls(**kwargs)
    except CatalogError as e:
        if e.entity == entity:
            raise
        # A nested part (targeting, schedule) failed: report it under its parent.
        raise CatalogError(entity, eid, prefix + e.field, e.reason) from None


def entity_from_dict(kind: str, data: Any) -> Entity:
    """Validate one catalogue JSON object of ``kind`` ('advertiser', 'campaign', 'creative')."""
    if kind not in ENTITIES:
        raise CatalogError("catalog", None, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    cls = ENTITIES[kind]
    eid = data.get(cls.ID_FIELD) if isinstance(data, Mapping) else None
    return _build(cls, data, kind, eid if isinstance(eid, str) else None)


def entity_to_dict(entity: Entity) -> dict:
    """Plain JSON-ready dict of an entity (the inverse of :func:`entity_from_dict`)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v
    return plain(entity)


def kind_of(entity: Entity) -> str:
    return entity.ENTITY


# ------------------------------------------------------------- change records

@dataclass(frozen=True)
class CatalogChange:
    """One record of the compacted ``ads.catalog`` topic: upsert (value) or delete (None)."""
    SCHEMA: ClassVar[str] = "catalog_change"   # the format's name (docs, tests); not on the wire

    kind: str
    entity_id: str
    value: Mapping[str, Any] | None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.entity_id}"

    @property
    def is_delete(self) -> bool:
        return self.value is None

    @classmethod
    def parse(cls, key: bytes | str, value: bytes | str | Mapping[str, Any] | None) -> "CatalogChange":
        """Parse a Kafka record. A null value (or JSON ``null``) is a tombstone = delete."""
        if isinstance(key, (bytes, bytearray)):
            key = key.decode("utf-8", errors="replace")
        if not isinstance(key, str) or ":" not in key:
            raise CatalogError("change", None, "key", f"expected '<kind>:<id>', got {key!r}")
        kind, eid = key.split(":", 1)
        if kind not in KINDS:
            raise CatalogError("change", key, "key", f"kind {kind!r} is not one of {', '.join(KINDS)}")
        if not eid:
            raise CatalogError("change", key, "key", "id after ':' is empty")
        if isinstance(value, (bytes, bytearray)):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise CatalogError(kind, eid, "<value>", "not UTF-8") from None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise CatalogError(kind, eid, "<value>", f"not JSON ({e.msg} at {e.pos})") from None
        if value is None:
            return cls(kind, eid, None)
        if not isinstance(value, Mapping):
            raise CatalogError(kind, eid, "<value>", f"expected a JSON object, got {type(value).__name__}")
        id_field = ENTITIES[kind].ID_FIELD
        if id_field in value and value[id_field] != eid:
            raise CatalogError(kind, eid, id_field, f"{value[id_field]!r} does not match the key {key!r}")
        return cls(kind, eid, {**value, id_field: eid})

    @classmethod
    def upsert(cls, entity: Entity) -> "CatalogChange":
        return cls(entity.ENTITY, entity.id, entity_to_dict(entity))

    @classmethod
    def delete(cls, kind: str, entity_id: str) -> "CatalogChange":
        return cls(kind, entity_id, None)

    def encode(self) -> tuple[bytes, bytes | None]:
        """(key, value) bytes for a producer; value None is the tombstone."""
        value = None if self.value is None else json.dumps(
            self.value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
        return self.key.encode(), value


