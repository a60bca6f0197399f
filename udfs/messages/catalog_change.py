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
# (Not in the docstring above: that is docs/messages.md's text.) The entities are declared and
# decoded as every format's parts are (base, fields: msgspec checks types, bounds and choices,
# check() the rest); the one difference is the error, a CatalogError instead of a MessageError,
# whether an entity is decoded (entity_from_dict) or built in code.
from __future__ import annotations

from collections import abc
from typing import Any, ClassVar, Literal, Mapping, Union

import msgspec

from udfs.errors import CatalogError, MessageError
from udfs.messages.base import Part, _Format, spec, strip
from udfs.messages.bounds import TS_MAX_MS
from udfs.messages.clickstream import DEVICES

ADVERTISER_STATUSES = ("active", "suspended")
CAMPAIGN_STATUSES = ("active", "paused", "ended")
BID_TYPES = ("CPM", "CPC", "CPA", "oCPA")
REVIEW_STATUSES = ("pending", "approved", "rejected")
KINDS = ("advertiser", "campaign", "creative")
_ID = 128   # characters of an id, as in every format


class _Catalogued(_Format):
    """The formats' metaclass, with the catalogue's error: an entity built in code that breaks a
    rule raises :class:`CatalogError` naming the entity and its id, as a decoded one does."""

    def __call__(cls, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except MessageError as e:
            eid = kwargs.get(cls.ID_FIELD) if cls.ID_FIELD else None
            raise _catalog_error(cls, cls.ENTITY, eid, e) from None


class _Entity(Part, metaclass=_Catalogued):
    """A catalogue object: decoded and checked as a message part, its errors a CatalogError."""
    ENTITY: ClassVar[str] = ""
    ID_FIELD: ClassVar[str] = ""


def _ids(obj: _Entity, *names: str) -> None:
    # msgspec bounds the length; blank is a rule it cannot state
    for name in names:
        if not getattr(obj, name).strip():
            raise obj.error(name, "must be a non-empty string")


def _nested(obj: _Entity, name: str) -> None:
    """A part's own rules (decoding builds parts without calling them), its path under ``name``."""
    try:
        getattr(obj, name).check()
    except MessageError as e:
        raise obj.error(f"{name}.{e.field}", e.reason) from None


# --------------------------------------------------------------------- entities

class _Identified(_Entity):
    """What the three entity kinds share: ``id`` is the value of their ``ID_FIELD``."""

    @property
    def id(self) -> str:
        return getattr(self, self.ID_FIELD)


class Advertiser(_Identified):
    ENTITY: ClassVar[str] = "advertiser"
    ID_FIELD: ClassVar[str] = "advertiser_id"

    advertiser_id: str = spec(max_len=_ID, doc="non-empty, at most 128 characters (as every id)")
    name: str = spec(default="", max_len=None)
    status: str = spec(default="active", choices=ADVERTISER_STATUSES)

    def check(self) -> None:
        _ids(self, "advertiser_id")


class Targeting(_Entity):
    """Who a campaign wants. Each dimension: empty tuple = anyone."""
    ENTITY: ClassVar[str] = "targeting"

    geos: tuple[str, ...] = spec(default=(), doc="country/region codes")
    devices: tuple[str, ...] = spec(default=(), choices=DEVICES)
    age_bands: tuple[str, ...] = spec(default=())
    genders: tuple[str, ...] = spec(default=())
    interests: tuple[str, ...] = spec(default=(), doc="category ids")
    keywords: tuple[str, ...] = spec(default=(), doc="search keywords: matched when every token of one "
                                                     "is among the user's recent search keywords")
    segments: tuple[int, ...] = spec(default=(), doc="segment ids (adstream interests segments)")

    def check(self) -> None:
        for name in ("geos", "age_bands", "genders", "interests", "keywords"):
            for i, v in enumerate(getattr(self, name)):
                if not v:
                    raise self.error(f"{name}[{i}]", "must be a non-empty string, got ''")
        for i, v in enumerate(self.segments):
            if v < 0:
                raise self.error(f"segments[{i}]", f"must be a segment id >= 0, got {v}")


class Schedule(_Entity):
    """When a campaign runs: UTC hours of day (empty = all day) within [start_ts, end_ts)."""
    ENTITY: ClassVar[str] = "schedule"

    hours: tuple[int, ...] = spec(default=(), doc="UTC hours 0..23; empty = all day")
    start_ts: int | None = spec(default=None, min=0, max=TS_MAX_MS, doc="epoch ms, inclusive; null = no start bound")
    end_ts: int | None = spec(default=None, min=0, max=TS_MAX_MS,
                              doc="epoch ms, exclusive, after start_ts; null = open-ended")

    def check(self) -> None:
        for i, h in enumerate(self.hours):
            if not 0 <= h <= 23:
                raise self.error(f"hours[{i}]", f"must be an hour 0..23 (UTC), got {h}")
        if self.start_ts is not None and self.end_ts is not None and self.end_ts <= self.start_ts:
            raise self.error("end_ts", "must be after start_ts")


class Campaign(_Identified):
    ENTITY: ClassVar[str] = "campaign"
    ID_FIELD: ClassVar[str] = "campaign_id"

    campaign_id: str = spec(max_len=_ID)
    advertiser_id: str = spec(max_len=_ID)
    status: str = spec(default="active", choices=CAMPAIGN_STATUSES)
    daily_budget: float = spec(min=0.0)
    bid_type: str = spec(choices=BID_TYPES)
    bid: float = spec(above=0.0, doc="per 1000 impressions (CPM), click (CPC), conversion (CPA/oCPA)")
    target_cpa: float | None = spec(default=None, above=0.0, doc="required when bid_type is oCPA")
    targeting: Targeting = spec(default=Targeting())
    schedule: Schedule = spec(default=Schedule())

    def check(self) -> None:
        _ids(self, "campaign_id", "advertiser_id")
        if self.bid_type == "oCPA" and self.target_cpa is None:
            raise self.error("target_cpa", "required when bid_type is 'oCPA'")
        _nested(self, "targeting")
        _nested(self, "schedule")


class Creative(_Identified):
    ENTITY: ClassVar[str] = "creative"
    ID_FIELD: ClassVar[str] = "creative_id"

    creative_id: str = spec(max_len=_ID)
    ad_id: str = spec(max_len=_ID)
    campaign_id: str = spec(max_len=_ID)
    advertiser_id: str = spec(max_len=_ID, doc="must be its campaign's advertiser (checked in a whole document)")
    item_id: str | None = spec(default=None, max_len=_ID, doc="the promoted item, if any")
    category_id: str | None = spec(default=None, max_len=_ID)
    brand_id: str | None = spec(default=None, max_len=_ID)
    price: float | None = spec(default=None, min=0.0, doc="price of the promoted item")
    # free text, unbounded here: the review (docs/ranking.md) rejects a creative whose title or
    # landing URL it does not accept, and records why, instead of the record being dropped
    title: str = spec(default="", max_len=None)
    landing_url: str = spec(default="", max_len=None)
    review_status: str = spec(default="pending", choices=REVIEW_STATUSES,
                              doc="a pending creative is reviewed on arrival (docs/ranking.md)")
    review_reason: str | None = spec(default=None, max_len=None)

    def check(self) -> None:
        _ids(self, "creative_id", "ad_id", "campaign_id", "advertiser_id")


Entity = Union[Advertiser, Campaign, Creative]
#: Kind (the key's prefix) -> the entity class that is the value's schema.
ENTITIES: dict[str, type] = {"advertiser": Advertiser, "campaign": Campaign, "creative": Creative}


# ----------------------------------------------------------- JSON <-> entities

def _catalog_error(cls: type, entity: str, eid: Any, e: MessageError) -> CatalogError:
    """The formats' error on ``cls`` as the catalogue's: entity, id, the dotted field."""
    field = "<value>" if e.field == "<payload>" else e.field
    reason = e.reason
    owner = _owner(cls, field) if reason == "unknown field" else None
    if owner is not None:   # which fields there are: what a hand-written document needs
        reason += f" (known: {', '.join(f.name for f in msgspec.structs.fields(owner))})"
    return CatalogError(entity, eid if isinstance(eid, str) else None, field, reason)


def _owner(cls: type, field: str) -> type | None:
    """The entity or part that holds ``field`` (``targeting.ages``: Targeting)."""
    for name in field.split(".")[:-1]:
        info = {f.name: f for f in msgspec.structs.fields(cls)}.get(name)
        cls = strip(info.type)[0] if info is not None else None
        if not (isinstance(cls, type) and issubclass(cls, _Entity)):
            return None
    return cls


def entity_from_dict(kind: str, data: Any) -> Entity:
    """Validate one catalogue JSON object of ``kind`` ('advertiser', 'campaign', 'creative')."""
    if kind not in ENTITIES:
        raise CatalogError("catalog", None, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    cls = ENTITIES[kind]
    try:
        return cls.from_dict(data)
    except MessageError as e:
        eid = data.get(cls.ID_FIELD) if isinstance(data, abc.Mapping) else None
        raise _catalog_error(cls, kind, eid, e) from None


def entity_to_dict(entity: Entity) -> dict:
    """Plain JSON-ready dict of an entity (the inverse of :func:`entity_from_dict`): lists, not
    tuples (``msgspec.to_builtins`` keeps tuples)."""
    return msgspec.json.decode(msgspec.json.encode(entity))


def kind_of(entity: Entity) -> str:
    return entity.ENTITY


# ------------------------------------------------------------- change records

class CatalogChange(msgspec.Struct, frozen=True):
    """One record of the compacted ``ads.catalog`` topic: upsert (value) or delete (None).

    Not itself on the wire as one object (the key and the value are), so a plain Struct: the
    value stays the entity's JSON object until :func:`entity_from_dict` (``Catalog.apply``)
    checks it, so that a record can be parsed, keyed and forwarded without being built.
    """
    SCHEMA: ClassVar[str] = "catalog_change"   # the format's name (docs, tests); not on the wire

    kind: Literal[KINDS]   # type: ignore[valid-type]
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
                value = msgspec.json.decode(value)
            except Exception as e:  # noqa: BLE001 - DecodeError, or RecursionError deep down: this record's
                raise CatalogError(kind, eid, "<value>", f"not JSON ({e})") from None
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
        """(key, value) bytes for a producer; value None is the tombstone. Compact JSON, UTF-8,
        keys sorted."""
        value = None if self.value is None else msgspec.json.encode(self.value, order="sorted")
        return self.key.encode(), value
