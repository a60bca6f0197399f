"""Every wire format: round trip, each invalid field its own clear error, unknown version rejected.

The catalogue change has no envelope (no schema, no version); its field rules are
tests/unit/test_catalog.py's. Here: its example round-trips like every other format's."""
import json

import pytest

from udfs.messages.examples import EXAMPLES
from udfs.errors import MessageError
from udfs.messages import (ALL, ENVELOPED, AdClick, AdRequest, CatalogChange, ClickEvent, Conversion,
                           DeadLetter, ErasureRequest, Impression, RankedAd, RankedAds, RequestContext)
from udfs.messages.catalog_change import Campaign, Schedule, Targeting
from udfs.messages.base import fields

pytestmark = pytest.mark.unit


def test_every_format_has_an_example():
    assert set(EXAMPLES) == set(ALL)


def test_catalog_change_round_trip():
    change = EXAMPLES[CatalogChange]
    key, value = change.encode()
    assert key == b"campaign:cmp1"
    assert CatalogChange.parse(key, value) == change
    assert CatalogChange.parse(*CatalogChange.delete("campaign", "cmp1").encode()).is_delete


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
def test_round_trip(cls):
    msg = EXAMPLES[cls]
    wire = msg.encode()
    assert cls.decode(wire) == msg
    doc = json.loads(wire)
    assert doc["schema"] == cls.SCHEMA and doc["v"] == cls.VERSION
    assert msg.to_json().encode() == wire and cls.decode(msg.to_json()) == msg


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
def test_unknown_version_rejected(cls):
    doc = EXAMPLES[cls].to_dict() | {"v": 99}
    with pytest.raises(MessageError) as e:
        cls.decode(json.dumps(doc))
    assert e.value.field == "v" and "99" in e.value.reason


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
def test_wrong_schema_and_unknown_field(cls):
    doc = EXAMPLES[cls].to_dict()
    with pytest.raises(MessageError) as e:
        cls.decode(json.dumps(doc | {"schema": "other"}))
    assert e.value.field == "schema"
    with pytest.raises(MessageError) as e:
        cls.decode(json.dumps(doc | {"surprise": 1}))
    assert e.value.field == "surprise" and e.value.reason == "unknown field"


@pytest.mark.parametrize("cls", ENVELOPED, ids=lambda c: c.SCHEMA)
def test_each_required_field_missing_is_named(cls):
    doc = EXAMPLES[cls].to_dict()
    required = [f.name for f in fields(cls) if f.required]
    assert required
    for name in required:
        broken = {k: v for k, v in doc.items() if k != name}
        with pytest.raises(MessageError) as e:
            cls.decode(json.dumps(broken))
        assert e.value.field == name and "missing" in e.value.reason


# (schema class, field path, bad value, words the reason must contain)
INVALID = [
    (ClickEvent, "event_id", "", "empty"),
    (ClickEvent, "user_id", 7, "string"),
    (ClickEvent, "ts", "yesterday", "integer"),
    (ClickEvent, "ts", -1, ">= 0"),
    (ClickEvent, "type", "hover", "not one of"),
    (ClickEvent, "price", -3, ">= 0"),
    (ClickEvent, "price", float("nan"), "finite"),
    (ClickEvent, "device", "watch", "not one of"),
    (ClickEvent, "consent", "yes", "true/false"),
    (ClickEvent, "item_id", None, "required for type"),
    (AdRequest, "num_ads", 0, ">= 1"),
    (AdRequest, "num_ads", 51, "<= 50"),
    (AdRequest, "slot", "", "empty"),
    (AdRequest, "context.device", "tv", "not one of"),
    (AdRequest, "context", [], "object"),
    (RankedAds, "ads[0].pctr", 1.5, "<= 1.0"),
    (RankedAds, "ads[0].rank", 2, "ranks must be"),
    (RankedAds, "fallback_reason", None, "required when fallback"),
    (RankedAds, "timings_ms.total", "fast", "number"),
    (Impression, "position", 0, ">= 1"),
    (Conversion, "value", -1, ">= 0"),
    (DeadLetter, "kind", "oops", "not one of"),
    (ErasureRequest, "reason", "because", "not one of"),
]


def _set_path(doc, path, value):
    import re
    parts = re.findall(r"[^.\[\]]+", path)
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[parts[-1]] = value


@pytest.mark.parametrize("cls,path,value,words", INVALID, ids=lambda x: str(x)[:30])
def test_invalid_field_gives_its_own_error(cls, path, value, words):
    doc = json.loads(EXAMPLES[cls].encode())
    _set_path(doc, path, value)
    raw = json.dumps(doc, allow_nan=True)
    with pytest.raises(MessageError) as e:
        cls.decode(raw)
    expected_field = "ads" if words == "ranks must be" else path
    assert e.value.field == expected_field, str(e.value)
    assert words in e.value.reason, str(e.value)
    assert cls.SCHEMA in str(e.value)


def test_search_requires_query_and_purchase_requires_price():
    with pytest.raises(MessageError) as e:
        ClickEvent(event_id="e", user_id="u", ts=1, type="search")
    assert e.value.field == "query"
    with pytest.raises(MessageError) as e:
        ClickEvent(event_id="e", user_id="u", ts=1, type="purchase", item_id="i")
    assert e.value.field == "price"


def test_payload_errors_are_clear():
    for raw, words in [(b"\xff\xfe", "UTF-8"), (b"{not json", "not JSON"), (b"[1,2]", "JSON object")]:
        with pytest.raises(MessageError) as e:
            ClickEvent.decode(raw)
        assert e.value.field == "<payload>" and words in e.value.reason


def test_dead_letter_keeps_undecodable_payload_readable():
    dl = EXAMPLES[DeadLetter]
    assert dl.original.endswith("bad") and dl.kind == "invalid"
