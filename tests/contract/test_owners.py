"""One owner per definition: what two modules use is defined in one and imported by the other."""
import pytest

from udfs import features
from udfs.messages import ClickEvent, RequestContext, catalog_change, clickstream

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
