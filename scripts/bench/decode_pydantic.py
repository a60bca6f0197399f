"""Prototype: the wire formats as pydantic v2 models in strict mode, parsed by its own JSON reader.

Measured against today's decoders by ``scripts/bench_decode.py`` (issue #12); nothing in
``udfs/`` uses it. Each format mirrors its ``udfs.messages`` class. ``strict=True`` (no
"1" for an int, no 1.0 for an int, no int for a bool), ``extra="forbid"``,
``allow_inf_nan=False`` (pydantic's default lets NaN and Infinity into a float field),
``Field`` bounds and lengths. The version is a strict int held to 1..1, not
``Literal[1]``: a literal compares by equality, so strict mode still lets 1.0 and true
through (the bench's ``traps`` section shows it). What pydantic cannot state,
``scripts.bench.decode_rules`` does after validation.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from udfs import messages as M
from udfs.errors import MessageError
from udfs.messages.bounds import INT_MAX, INT_MIN, TS_MAX_MS
from udfs.messages.clickstream import DEVICES, EVENT_TYPES
from udfs.messages.dead_letter import REASONS

from scripts.bench.decode_rules import after_decode, dotted


def _text(max_len: int, min_len: int = 0):
    return Annotated[str, Field(min_length=min_len, max_length=max_len)]


def _int(lo: int = INT_MIN, hi: int = INT_MAX):
    return Annotated[int, Field(ge=lo, le=hi)]


def _num(lo: float | None = None, hi: float | None = None):
    return Annotated[float, Field(ge=lo, le=hi)]


Id, NonEmptyId, Ts, Version = _text(128), _text(128, 1), _int(0, TS_MAX_MS), _int(1, 1)
Device = Literal[DEVICES]  # type: ignore[valid-type]


class _Base(BaseModel):
    # A message's "schema" field is aliased: the name is a BaseModel method.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class ClickEventP(_Base):
    SCHEMA: ClassVar[str] = "clickstream"
    schema_: Literal["clickstream"] = Field(alias="schema")
    v: Version
    event_id: NonEmptyId
    user_id: NonEmptyId
    ts: Ts
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    item_id: Id | None = None
    category_id: Id | None = None
    brand_id: Id | None = None
    price: _num(0.0, 1e7) | None = None
    query: _text(512) | None = None
    device: Device = "mobile"
    geo: _text(16) = ""
    consent: bool = True


class RequestContextP(_Base):
    device: Device = "mobile"
    geo: _text(16) = ""
    page_category: Id | None = None


class AdRequestP(_Base):
    SCHEMA: ClassVar[str] = "ad_request"
    schema_: Literal["ad_request"] = Field(alias="schema")
    v: Version
    request_id: NonEmptyId
    user_id: Id | None
    ts: Ts
    slot: _text(64, 1)
    num_ads: _int(1, 50)
    context: RequestContextP = Field(default_factory=RequestContextP)


class RankedAdP(_Base):
    ad_id: Id
    campaign_id: Id
    creative_id: Id
    advertiser_id: Id
    rank: _int(1)
    pctr: _num(0.0, 1.0)
    ecpm: _num(0.0)
    price: _num(0.0)


class RankedAdsP(_Base):
    SCHEMA: ClassVar[str] = "ranked_ads"
    schema_: Literal["ranked_ads"] = Field(alias="schema")
    v: Version
    request_id: NonEmptyId
    ts: Ts
    ads: tuple[RankedAdP, ...] = Field(max_length=50)
    model_version: _text(64)
    variant: _text(64) = "control"
    fallback: bool = False
    fallback_reason: _text(256) | None = None
    timings_ms: dict[_text(64), float] = Field(default_factory=dict, max_length=64)


class ImpressionP(_Base):
    SCHEMA: ClassVar[str] = "impression"
    schema_: Literal["impression"] = Field(alias="schema")
    v: Version
    impression_id: Id
    request_id: Id
    user_id: Id | None
    ad_id: Id
    campaign_id: Id
    creative_id: Id
    ts: Ts
    position: _int(1, 50)
    price: _num(0.0)


class AdClickP(_Base):
    SCHEMA: ClassVar[str] = "ad_click"
    schema_: Literal["ad_click"] = Field(alias="schema")
    v: Version
    click_id: Id
    impression_id: Id
    request_id: Id
    user_id: Id | None
    ad_id: Id
    campaign_id: Id
    ts: Ts


class ConversionP(_Base):
    SCHEMA: ClassVar[str] = "conversion"
    schema_: Literal["conversion"] = Field(alias="schema")
    v: Version
    conversion_id: Id
    impression_id: Id
    click_id: Id | None = None
    user_id: Id | None
    campaign_id: Id
    ts: Ts
    value: _num(0.0)


class DeadLetterP(_Base):
    SCHEMA: ClassVar[str] = "dead_letter"
    schema_: Literal["dead_letter"] = Field(alias="schema")
    v: Version
    original: _text(1_000_000)
    reason: _text(2048)
    kind: Literal[REASONS]  # type: ignore[valid-type]
    source_topic: _text(256)
    ts: Ts
    stage: _text(128) = ""
    field: _text(256) | None = None
    original_bytes: _int(0) | None = None
    original_sha256: _text(64) | None = None


class ErasureRequestP(_Base):
    SCHEMA: ClassVar[str] = "erasure"
    schema_: Literal["erasure"] = Field(alias="schema")
    v: Version
    request_id: Id
    user_id: NonEmptyId
    ts: Ts
    requested_by: Id
    reason: Literal["user_request", "consent_withdrawn", "legal"] = "user_request"


MODELS = {M.ClickEvent: ClickEventP, M.AdRequest: AdRequestP, M.RankedAds: RankedAdsP,
          M.Impression: ImpressionP, M.AdClick: AdClickP, M.Conversion: ConversionP,
          M.DeadLetter: DeadLetterP, M.ErasureRequest: ErasureRequestP}


def error(schema: str, e: pydantic.ValidationError) -> MessageError:
    """The first of pydantic's errors (it collects them all) as a MessageError; ``loc`` is
    structured, so the path needs no parsing. A mapping key's loc ends in '[key]'."""
    first = e.errors(include_url=False)[0]
    loc = list(first["loc"])
    if loc and loc[-1] == "[key]":
        loc = loc[:-2]                 # the mapping itself, as today's decoder names it
    return MessageError(schema, dotted(loc), first["msg"])


def _fields(obj):
    return ((n, v) for n, v in obj.__dict__.items() if n != "schema_")


def decoder(cls: type, rules: bool = True):
    """``decode(raw, bounds=None, now_ms=None)`` of today's message class ``cls``, by pydantic
    (``rules=False``: the library alone)."""
    validate = MODELS[cls].model_validate_json
    schema = cls.SCHEMA

    def decode(raw, bounds=None, now_ms=None):
        try:
            obj = validate(raw)
        except pydantic.ValidationError as e:
            raise error(schema, e) from None
        return after_decode(schema, obj, _fields, bounds, now_ms, raw) if rules else obj
    return decode


def plain(obj) -> dict:
    """The decoded value as JSON types, to compare with today's ``to_dict()``."""
    return obj.model_dump(mode="json", by_alias=True)
