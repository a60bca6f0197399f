"""msgspec's error texts, and what ``udfs/messages/wire_errors.py`` makes of them.

The field path exists only inside msgspec's message text, so the translation parses it.
Each row holds one wording it relies on, exactly as msgspec 0.22 writes it (pinned in
constraints.txt): an upgrade that rewords one fails here, where the fix is obvious, rather
than as dead letters naming the wrong field. The reasons are the formats' words; the
example records are the formats' own (``udfs/messages/examples.py``).
"""
import json

import msgspec
import pytest

from udfs.errors import MessageError
from udfs.messages import AdRequest, ClickEvent, RankedAds

from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.unit


def wire(cls, **changes) -> str:
    return json.dumps(EXAMPLES[cls].to_dict() | changes)


def spliced(cls, old: str, new: str) -> str:
    raw = wire(cls)
    assert old in raw
    return raw.replace(old, new)


AD = EXAMPLES[RankedAds].to_dict()["ads"][0]
# (format, record, msgspec's own text, field, reason)
CASES = [
    (AdRequest, wire(AdRequest, request_id=7), "Expected `str`, got `int` - at `$.request_id`",
     "request_id", "expected a string, got an integer"),
    (ClickEvent, wire(ClickEvent, consent="yes"), "Expected `bool | object | null`, got `str` - at `$.consent`",
     "consent", "expected true/false or an object, got a string"),
    (ClickEvent, "[1, 2]", "Expected `object`, got `array`", "<payload>", "expected a JSON object, got a list"),
    (AdRequest, wire(AdRequest, num_ads=51), "Expected `int` <= 50 - at `$.num_ads`", "num_ads", "must be <= 50"),
    (AdRequest, wire(AdRequest, num_ads=0), "Expected `int` >= 1 - at `$.num_ads`", "num_ads", "must be >= 1"),
    (RankedAds, spliced(RankedAds, '"pctr": 0.03', '"pctr": 1.5'), "Expected `float` <= 1.0 - at `$.ads[0].pctr`",
     "ads[0].pctr", "must be <= 1.0"),
    (ClickEvent, wire(ClickEvent, query="x" * 513), "Expected `str` of length <= 512 - at `$.query`",
     "query", "longer than 512 characters"),
    (RankedAds, wire(RankedAds, timings_ms={"x" * 65: 1.0}),
     "Expected `str` of length <= 64 - at `key` in `$.timings_ms`", "timings_ms", "a key is longer than 64 characters"),
    (RankedAds, wire(RankedAds, timings_ms={f"s{i}": 1.0 for i in range(65)}),
     "Expected `object` of length <= 64 - at `$.timings_ms`", "timings_ms", "more than 64 items"),
    (RankedAds, wire(RankedAds, ads=[AD] * 51), "Expected `array` of length <= 50 - at `$.ads`",
     "ads", "more than 50 items"),
    # msgspec does not name the key: it is looked up in the record
    (RankedAds, wire(RankedAds, timings_ms={"total": 1.0, "model": "fast"}),
     "Expected `float`, got `str` - at `$.timings_ms[...]`", "timings_ms.model", "expected a number, got a string"),
    (ClickEvent, wire(ClickEvent, type="nope"), "Invalid enum value 'nope' - at `$.type`",
     "type", "'nope' is not one of view, search, cart, fav, purchase"),
    (AdRequest, wire(AdRequest, context={"device": "tv"}), "Invalid enum value 'tv' - at `$.context.device`",
     "context.device", "'tv' is not one of mobile, desktop, tablet, app"),
    (ClickEvent, wire(ClickEvent, v=3), "Invalid enum value 3 - at `$.v`",
     "v", "unsupported version 3 (this reader knows 1, 2)"),
    (ClickEvent, wire(ClickEvent, v=1.0), "Expected `int | null`, got `float` - at `$.v`",
     "v", "version must be an integer, got a number"),
    (ClickEvent, wire(ClickEvent, schema="impression"), "Invalid enum value 'impression' - at `$.schema`",
     "schema", "expected 'clickstream', got 'impression'"),
    (ClickEvent, wire(ClickEvent, schema=7), "Expected `str | null`, got `int` - at `$.schema`",
     "schema", "expected 'clickstream', got an integer"),
    (AdRequest, wire(AdRequest, context={"colour": "red"}), "Object contains unknown field `colour` - at `$.context`",
     "context.colour", "unknown field"),
    (ClickEvent, wire(ClickEvent, surprise=1), "Object contains unknown field `surprise`", "surprise", "unknown field"),
    (ClickEvent, wire(ClickEvent, **{"": 1}), "Object contains unknown field ``", "", "unknown field"),
    (RankedAds, json.dumps({k: v for k, v in EXAMPLES[RankedAds].to_dict().items() if k != "model_version"}),
     "Object missing required field `model_version`", "model_version", "required field is missing"),
    # literals msgspec's parser cannot hold: the record says whether it was an integer
    (ClickEvent, spliced(ClickEvent, '"price": 19.9', '"price": 1' + "0" * 400), "Number out of range - at `$.price`",
     "price", "integer out of range"),
    (ClickEvent, spliced(ClickEvent, '"price": 19.9', '"price": 1e999'), "Number out of range - at `$.price`",
     "price", "must be finite, got inf"),
    (ClickEvent, wire(ClickEvent, geo=10**400), "Number out of range - at `$.geo`",
     "geo", "expected a string, got an integer"),
    (ClickEvent, wire(ClickEvent, geo=-2**63 - 1), "Expected `str`, got `float` - at `$.geo`",
     "geo", "expected a string, got an integer"),
    (ClickEvent, spliced(ClickEvent, '"ts": 1700000000000', '"ts": ' + "7" * 5000),
     "Integer value out of range - at `$.ts`", "ts", "integer out of range"),
    (ClickEvent, wire(ClickEvent, ts=10**400), "Expected `int` <= 253402300799999 - at `$.ts`",
     "ts", "must be <= 253402300799999"),
]


@pytest.mark.parametrize("cls,raw,library,field,reason", CASES, ids=[c[2][:40] for c in CASES])
def test_msgspec_wording_and_its_translation(cls, raw, library, field, reason):
    with pytest.raises(msgspec.ValidationError) as lib:
        msgspec.json.decode(raw, type=cls)
    assert str(lib.value) == library          # msgspec's wording, which wire_errors parses
    with pytest.raises(MessageError) as e:
        cls.decode(raw)
    assert (e.value.field, e.value.reason) == (field, reason)
    if "7" * 5000 in raw:
        return                                # json.loads cannot read it (int-digits limit)
    with pytest.raises(MessageError) as e:    # the same words for a decoded object
        cls.from_dict(json.loads(raw))
    assert (e.value.field, e.value.reason) == (field, reason)


def test_a_wording_it_does_not_know_is_passed_on_bounded_and_ascii():
    from udfs.messages.wire_errors import translate
    e = translate(ClickEvent, msgspec.ValidationError("Something new: " + "é" * 500 + " - at `$.geo`"))
    assert e.field == "geo" and e.reason.startswith("Something new: \\xe9") and len(e.reason) <= 200


def test_what_msgspec_calls_malformed_json_gets_its_field_back():
    # NaN and a lone surrogate escape are not JSON to msgspec; json.loads reads them, and the
    # field's rules then say what is wrong with which field
    e = pytest.raises(MessageError, ClickEvent.decode, spliced(ClickEvent, '"price": 19.9', '"price": NaN')).value
    assert (e.field, e.reason) == ("price", "must be finite, got nan")
    e = pytest.raises(MessageError, ClickEvent.decode, wire(ClickEvent, brand_id="b\ud800")).value
    assert (e.field, e.reason) == ("brand_id", "not UTF-8")
    e = pytest.raises(MessageError, ClickEvent.decode, '{"schema": "clickstream", "v": 1,').value
    assert e.field == "<payload>" and e.reason.startswith("not JSON (Expecting")
