"""Clickstream event (topic ``clicks.v1``): one user action on the site."""
from __future__ import annotations


from udfs.messages.base import Message, spec, ts_spec

EVENT_TYPES = ("view", "search", "cart", "fav", "purchase")
DEVICES = ("mobile", "desktop", "tablet", "app")
ITEM_TYPES = ("view", "cart", "fav", "purchase")


class ClickEvent(Message):
    SCHEMA = "clickstream"
    VERSION = 1

    event_id: str = spec(max_len=128, doc="unique per event; duplicates are dropped")
    user_id: str = spec(max_len=128, doc="pseudonymous user id (never a raw identifier)")
    ts: int = ts_spec("event time, epoch milliseconds")
    type: str = spec(choices=EVENT_TYPES)
    item_id: str | None = spec(default=None, max_len=128, doc="required for view/cart/fav/purchase")
    category_id: str | None = spec(default=None, max_len=128)
    brand_id: str | None = spec(default=None, max_len=128)
    price: float | None = spec(default=None, min=0.0, max=1e7, doc="item price; required for purchase")
    query: str | None = spec(default=None, max_len=512, doc="search text; required for search")
    device: str = spec(default="mobile", choices=DEVICES)
    geo: str = spec(default="", max_len=16, doc="country/region code")
    consent: bool = spec(default=True, doc="user consented to personalisation")

    def check(self) -> None:
        if not self.event_id:
            raise self.error("event_id", "must not be empty")
        if not self.user_id:
            raise self.error("user_id", "must not be empty")
        if self.type in ITEM_TYPES and not self.item_id:
            raise self.error("item_id", f"required for type {self.type!r}")
        if self.type == "search" and not self.query:
            raise self.error("query", "required for type 'search'")
        if self.type == "purchase" and self.price is None:
            raise self.error("price", "required for type 'purchase'")
