"""One owner per definition: what two modules use is defined in one and imported by the other."""
import dataclasses

import pytest
import yaml

from udfs import config, features, topics
from udfs.messages import ALL, ClickEvent, RequestContext, catalog_change, clickstream

pytestmark = pytest.mark.contract


def _choices(cls, name):
    return cls.__dataclass_fields__[name].metadata["choices"]


def test_event_types_and_devices_are_the_clickstream_formats():
    # The same objects, not equal copies: the features index devices and count event types in
    # the format's order, so a value added to the format must reach them.
    assert features.EVENT_TYPES is clickstream.EVENT_TYPES
    assert features.DEVICES is clickstream.DEVICES
    assert _choices(ClickEvent, "type") is clickstream.EVENT_TYPES
    assert _choices(ClickEvent, "device") is clickstream.DEVICES
    assert _choices(RequestContext, "device") is clickstream.DEVICES
    assert _choices(catalog_change.Targeting, "devices") is clickstream.DEVICES


def test_every_configured_topic_has_its_format_and_every_format_its_topic():
    raw = yaml.safe_load((config.ROOT / "conf" / "base.yaml").read_text())["kafka"]["topics"]
    assert set(topics.FORMATS) == set(raw)
    assert set(topics.FORMATS) == {f.name for f in dataclasses.fields(config.Topics)}
    assert set(topics.FORMATS.values()) == set(ALL)          # each format on one topic, none left out
    assert len(topics.FORMATS) == len(ALL)
    cfg = config.load("base")
    for key, cls in topics.FORMATS.items():
        assert topics.key_of(cls) == key and topics.name_of(cfg, key) == raw[key]["name"]
