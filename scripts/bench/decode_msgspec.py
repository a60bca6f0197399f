"""Prototype: the wire formats as msgspec ``Struct``s, strict, with ``Meta`` constraints.

Measured against today's decoders by ``scripts/bench_decode.py`` (issue #12); nothing in
``udfs/`` uses it. Each format mirrors its ``udfs.messages`` class field for field. What
msgspec states itself: types (strict mode: no float for an int, no bool for a number,
no int for a bool), ``Literal`` choices and version, ``ge``/``le`` bounds (every integer
held to a Java long, as ``udfs.messages.bounds`` does), string length (``min_length=1``
for the ids today's ``check()`` refuses when empty), item counts, unknown fields.
What it cannot, ``scripts.bench.decode_rules`` does after decoding.
"""
from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Struct, field

from udfs import messages as M
from udfs.errors import MessageError
from udfs.messages.bounds import INT_MAX, INT_MIN, NOT_UTF8, TS_MAX_MS
from udfs.messages.clickstream import DEVICES, EVENT_TYPES
from udfs.messages.dead_letter import REASONS

from scripts.bench.decode_rules import after_decode


def _text(max_len: int, min_len: int = 0):
    return Annotated[str, Meta(min_length=min_len, max_length=max_len)]


def _int(lo: int = INT_MIN, hi: int = INT_MAX):
    return Annotated[int, Meta(ge=lo, le=hi)]


def _num(lo: float | None = None, hi: float | None = None):
    return Annotated[float, Meta(ge=lo, le=hi)]


Id, NonEmptyId, Ts = _text(128), _text(128, 1), _int(0, TS_MAX_MS)
Device = Literal[DEVICES]  # type: ignore[valid-type]


class _Base(Struct, frozen=True, forbid_unknown_fields=True):
    """A message: its ``schema`` and integer ``v`` are plain fields, not a struct tag (a
    single tagged Struct decodes a record without the tag). ``kw_only`` is per class in
    msgspec (required fields follow defaults in several formats), the rest is inherited."""


class ClickEventS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "clickstream"
    schema: Literal["clickstream"]
    v: Literal[1]
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


class RequestContextS(_Base, kw_only=True):
    device: Device = "mobile"
    geo: _text(16) = ""
    page_category: Id | None = None


class AdRequestS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "ad_request"
    schema: Literal["ad_request"]
    v: Literal[1]
    request_id: NonEmptyId
    user_id: Id | None
    ts: Ts
    slot: _text(64, 1)
    num_ads: _int(1, 50)
    context: RequestContextS = field(default_factory=RequestContextS)


class RankedAdS(_Base, kw_only=True):
    ad_id: Id
    campaign_id: Id
    creative_id: Id
    advertiser_id: Id
    rank: _int(1)
    pctr: _num(0.0, 1.0)
    ecpm: _num(0.0)
    price: _num(0.0)


class RankedAdsS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "ranked_ads"
    schema: Literal["ranked_ads"]
    v: Literal[1]
    request_id: NonEmptyId
    ts: Ts
    ads: Annotated[tuple[RankedAdS, ...], Meta(max_length=50)]
    model_version: _text(64)
    variant: _text(64) = "control"
    fallback: bool = False
    fallback_reason: _text(256) | None = None
    timings_ms: Annotated[dict[_text(64), float], Meta(max_length=64)] = {}


class ImpressionS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "impression"
    schema: Literal["impression"]
    v: Literal[1]
    impression_id: Id
    request_id: Id
    user_id: Id | None
    ad_id: Id
    campaign_id: Id
    creative_id: Id
    ts: Ts
    position: _int(1, 50)
    price: _num(0.0)


class AdClickS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "ad_click"
    schema: Literal["ad_click"]
    v: Literal[1]
    click_id: Id
    impression_id: Id
    request_id: Id
    user_id: Id | None
    ad_id: Id
    campaign_id: Id
    ts: Ts


class ConversionS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "conversion"
    schema: Literal["conversion"]
    v: Literal[1]
    conversion_id: Id
    impression_id: Id
    click_id: Id | None = None
    user_id: Id | None
    campaign_id: Id
    ts: Ts
    value: _num(0.0)


class DeadLetterS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "dead_letter"
    schema: Literal["dead_letter"]
    v: Literal[1]
    original: _text(1_000_000)
    reason: _text(2048)
    kind: Literal[REASONS]  # type: ignore[valid-type]
    source_topic: _text(256)
    ts: Ts
    stage: _text(128) = ""
    field: _text(256) | None = None
    original_bytes: _int(0) | None = None
    original_sha256: _text(64) | None = None


class ErasureRequestS(_Base, kw_only=True):
    SCHEMA: ClassVar[str] = "erasure"
    schema: Literal["erasure"]
    v: Literal[1]
    request_id: Id
    user_id: NonEmptyId
    ts: Ts
    requested_by: Id
    reason: Literal["user_request", "consent_withdrawn", "legal"] = "user_request"


STRUCTS = {M.ClickEvent: ClickEventS, M.AdRequest: AdRequestS, M.RankedAds: RankedAdsS,
           M.Impression: ImpressionS, M.AdClick: AdClickS, M.Conversion: ConversionS,
           M.DeadLetter: DeadLetterS, M.ErasureRequest: ErasureRequestS}

# "Expected `int`, got `str` - at `$.ads[0].rank`"; a mapping key: "... - at `key` in `$.m`"
_AT = re.compile(r" - at `(?:key` in `)?\$\.?([^`]*)`$")
_NAMED = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]*)`")


def error(schema: str, e: msgspec.ValidationError) -> MessageError:
    """The library's error as a MessageError; its path is only in the text, so parsed from it."""
    text = str(e)
    m = _AT.search(text)
    path = m.group(1) if m else ""
    reason = text[:m.start()] if m else text
    named = _NAMED.match(reason)
    if named:   # the field is named in the reason (it may be ""), the path is its parent object's
        return MessageError(schema, f"{path}.{named.group(1)}" if path else named.group(1), reason)
    return MessageError(schema, path or "<payload>", reason)


def _fields(obj):
    return ((n, getattr(obj, n)) for n in obj.__struct_fields__)


def decoder(cls: type, rules: bool = True):
    """``decode(raw, bounds=None, now_ms=None)`` of today's message class ``cls``, by msgspec.

    ``rules=False``: the library alone (its own errors translated, nothing else caught or
    checked), to count what the project's rules add."""
    dec = msgspec.json.Decoder(STRUCTS[cls])
    schema = cls.SCHEMA
    # invalid UTF-8 inside a string surfaces as UnicodeDecodeError, not as msgspec's own error
    caught = (UnicodeError,) if rules else ()

    def decode(raw, bounds=None, now_ms=None):
        try:
            obj = dec.decode(raw)
        except msgspec.ValidationError as e:
            raise error(schema, e) from None
        except msgspec.DecodeError as e:      # malformed JSON, a lone surrogate escape
            raise MessageError(schema, "<payload>", f"not JSON ({e})") from None
        except caught as e:
            raise MessageError(schema, "<payload>", f"{NOT_UTF8} ({e.reason})") from None
        return after_decode(schema, obj, _fields, bounds, now_ms, raw) if rules else obj
    return decode


def plain(obj) -> dict:
    """The decoded value as JSON types, to compare with today's ``to_dict()``."""
    return msgspec.to_builtins(obj)
