"""The ad catalogue: advertisers, campaigns and creatives, validated, with change records.

A :class:`Catalog` is built from one JSON document (:meth:`Catalog.from_json`,
:meth:`Catalog.load`) and kept current by change records from the compacted
``ads.catalog`` topic (:meth:`Catalog.apply`): key ``"<kind>:<id>"``, value the
entity's JSON object, or null (a tombstone) to delete it. The format is described
in docs/ranking.md. Every validation failure raises :class:`CatalogError` naming
the entity, its id and the field.

Pure: no I/O except :meth:`Catalog.load` reading a file.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Union

from udfs.errors import CatalogError
from udfs.messages.clickstream import DEVICES

ADVERTISER_STATUSES = ("active", "suspended")
CAMPAIGN_STATUSES = ("active", "paused", "ended")
BID_TYPES = ("CPM", "CPC", "CPA", "oCPA")
REVIEW_STATUSES = ("pending", "approved", "rejected")
KINDS = ("advertiser", "campaign", "creative")
_SECTIONS = {"advertisers": "advertiser", "campaigns": "campaign", "creatives": "creative"}


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

    advertiser_id: str
    name: str = ""
    status: str = "active"

    def __post_init__(self) -> None:
        _require_id(self, "advertiser_id")
        _check_choice(self, "status", ADVERTISER_STATUSES)


@dataclass(frozen=True, kw_only=True)
class Targeting:
    """Who a campaign wants. Each dimension: empty tuple = anyone."""
    ENTITY: ClassVar[str] = "targeting"
    ID_FIELD: ClassVar[str] = ""

    geos: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()   # category ids

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

    hours: tuple[int, ...] = ()
    start_ts: int | None = None    # epoch ms, inclusive; None = no start bound
    end_ts: int | None = None      # epoch ms, exclusive; None = open-ended

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

    campaign_id: str
    advertiser_id: str
    status: str = "active"
    daily_budget: float
    bid_type: str
    bid: float                         # per 1000 impressions (CPM), click (CPC), conversion (CPA/oCPA)
    target_cpa: float | None = None    # oCPA only
    targeting: Targeting = Targeting()
    schedule: Schedule = Schedule()

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

    creative_id: str
    ad_id: str
    campaign_id: str
    advertiser_id: str
    item_id: str | None = None         # the promoted item, if any
    category_id: str | None = None
    brand_id: str | None = None
    price: float | None = None         # price of the promoted item
    title: str = ""
    landing_url: str = ""
    review_status: str = "pending"
    review_reason: str | None = None

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
_CLASSES: dict[str, type] = {"advertiser": Advertiser, "campaign": Campaign, "creative": Creative}


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
    if kind not in _CLASSES:
        raise CatalogError("catalog", None, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    cls = _CLASSES[kind]
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
        id_field = _CLASSES[kind].ID_FIELD
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


# -------------------------------------------------------------------- catalog

class Catalog:
    """In-memory catalogue with lookups by id and creatives indexed by campaign.

    References are checked strictly when a whole document is loaded, but not by
    :meth:`apply`: a compacted topic may replay a creative before its campaign, so a
    dangling reference is allowed and targeting treats such a creative as ineligible.
    """

    def __init__(self) -> None:
        self._advertisers: dict[str, Advertiser] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._creatives: dict[str, Creative] = {}
        self._by_campaign: dict[str, dict[str, Creative]] = {}
        self.version = 0    # bumped on every change; callers may cache on it

    # ----------------------------------------------------------- lookups
    def advertiser(self, advertiser_id: str) -> Advertiser | None:
        return self._advertisers.get(advertiser_id)

    def campaign(self, campaign_id: str) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    def creative(self, creative_id: str) -> Creative | None:
        return self._creatives.get(creative_id)

    def advertisers(self) -> list[Advertiser]:
        return [self._advertisers[k] for k in sorted(self._advertisers)]

    def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns)]

    def creatives(self) -> list[Creative]:
        return [self._creatives[k] for k in sorted(self._creatives)]

    def creatives_of(self, campaign_id: str) -> list[Creative]:
        group = self._by_campaign.get(campaign_id, {})
        return [group[k] for k in sorted(group)]

    def campaign_ids_with_creatives(self) -> list[str]:
        return sorted(self._by_campaign)

    def __len__(self) -> int:
        return len(self._advertisers) + len(self._campaigns) + len(self._creatives)

    def __iter__(self) -> Iterator[Entity]:
        yield from self.advertisers()
        yield from self.campaigns()
        yield from self.creatives()

    # ----------------------------------------------------------- updates
    def put(self, entity: Entity) -> None:
        """Insert or replace one entity."""
        if isinstance(entity, Advertiser):
            self._advertisers[entity.id] = entity
        elif isinstance(entity, Campaign):
            self._campaigns[entity.id] = entity
        elif isinstance(entity, Creative):
            old = self._creatives.get(entity.id)
            if old is not None and old.campaign_id != entity.campaign_id:
                self._unindex(old)
            self._creatives[entity.id] = entity
            self._by_campaign.setdefault(entity.campaign_id, {})[entity.id] = entity
        else:
            raise TypeError(f"not a catalogue entity: {entity!r}")
        self.version += 1

    def remove(self, kind: str, entity_id: str) -> Entity | None:
        """Delete one entity; returns it, or None if it was not there. No cascade."""
        if kind == "advertiser":
            old = self._advertisers.pop(entity_id, None)
        elif kind == "campaign":
            old = self._campaigns.pop(entity_id, None)
        elif kind == "creative":
            old = self._creatives.pop(entity_id, None)
            if old is not None:
                self._unindex(old)
        else:
            raise CatalogError("change", entity_id, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        if old is not None:
            self.version += 1
        return old

    def _unindex(self, creative: Creative) -> None:
        group = self._by_campaign.get(creative.campaign_id)
        if group is not None:
            group.pop(creative.id, None)
            if not group:
                del self._by_campaign[creative.campaign_id]

    def apply(self, change: CatalogChange) -> Entity | None:
        """Apply one change record; returns the new entity (None for a delete).

        The record is validated before anything changes, so a bad record leaves the
        catalogue as it was.
        """
        if change.value is None:
            self.remove(change.kind, change.entity_id)
            return None
        entity = entity_from_dict(change.kind, change.value)
        if entity.id != change.entity_id:
            raise CatalogError(change.kind, change.entity_id, entity.ID_FIELD,
                               f"{entity.id!r} does not match the key {change.key!r}")
        self.put(entity)
        return entity

    def apply_record(self, key: bytes | str, value: bytes | str | Mapping[str, Any] | None) -> Entity | None:
        """:meth:`apply` on a raw Kafka (key, value)."""
        return self.apply(CatalogChange.parse(key, value))

    # ----------------------------------------------------------- documents
    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Catalog":
        """Build from ``{"advertisers": [...], "campaigns": [...], "creatives": [...]}``.

        Ids must be unique per kind; a campaign's advertiser and a creative's campaign
        must exist, and a creative's advertiser must be its campaign's.
        """
        if not isinstance(doc, Mapping):
            raise CatalogError("catalog", None, "<document>", f"expected a JSON object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - set(_SECTIONS))
        if unknown:
            raise CatalogError("catalog", None, unknown[0],
                               f"unknown section (known: {', '.join(_SECTIONS)})")
        cat = cls()
        for section, kind in _SECTIONS.items():
            items = doc.get(section, [])
            if not isinstance(items, list):
                raise CatalogError("catalog", None, section, f"expected a list, got {type(items).__name__}")
            seen: set[str] = set()
            for item in items:
                entity = entity_from_dict(kind, item)
                if entity.id in seen:
                    raise CatalogError(kind, entity.id, entity.ID_FIELD, "duplicate id")
                seen.add(entity.id)
                cat.put(entity)
        cat.check_references()
        return cat

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError("catalog", None, "<file>", f"{p} not found") from None
        except json.JSONDecodeError as e:
            raise CatalogError("catalog", None, "<file>", f"{p} is not JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_json(doc)

    def to_json(self) -> dict:
        return {"advertisers": [entity_to_dict(a) for a in self.advertisers()],
                "campaigns": [entity_to_dict(c) for c in self.campaigns()],
                "creatives": [entity_to_dict(c) for c in self.creatives()]}

    def check_references(self) -> None:
        """Raise :class:`CatalogError` on the first dangling or inconsistent reference."""
        for c in self.campaigns():
            if c.advertiser_id not in self._advertisers:
                raise CatalogError("campaign", c.id, "advertiser_id", f"unknown advertiser {c.advertiser_id!r}")
        for cr in self.creatives():
            camp = self._campaigns.get(cr.campaign_id)
            if camp is None:
                raise CatalogError("creative", cr.id, "campaign_id", f"unknown campaign {cr.campaign_id!r}")
            if cr.advertiser_id != camp.advertiser_id:
                raise CatalogError("creative", cr.id, "advertiser_id",
                                   f"{cr.advertiser_id!r} differs from campaign {camp.id!r}'s "
                                   f"advertiser {camp.advertiser_id!r}")
