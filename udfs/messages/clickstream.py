"""Clickstream event (topic ``clicks.v1``): one user action on the site.

Version 2 carries the user's consent as purposes, ``{"personalisation": …, "measurement": …}``
(each true, false or absent); version 1 carried one boolean, ``consent``, which meant
personalisation. Readers take both: a v1 ``true``/``false`` is the personalisation flag, its
measurement flag is absent, and an absent flag is decided by the geo's policy (``privacy.consent``:
opt-in, the default, reads it as no). A new version, not an addition to v1, because a v1 reader
refuses an object where it expects a boolean; the topic keeps its name because its one reader
reads both versions, and a user's events stay in order in one partition (docs/privacy.md).
"""
from __future__ import annotations


from udfs.messages.base import Message, Part, spec, ts_spec

EVENT_TYPES = ("view", "search", "cart", "fav", "purchase")
DEVICES = ("mobile", "desktop", "tablet", "app")
ITEM_TYPES = ("view", "cart", "fav", "purchase")


class Consent(Part):
    """What the user consented to, per purpose; an absent purpose is decided by the geo's policy."""
    personalisation: bool | None = spec(default=None, doc="a profile, and ads ranked by it")
    measurement: bool | None = spec(default=None, doc="the user's id in logs kept for measurement "
                                                      "(training log)")


class ClickEvent(Message):
    SCHEMA = "clickstream"
    VERSION = 2
    VERSIONS = (1, 2)

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
    consent: Consent | bool | None = spec(
        default=None, doc="v2: the consent purposes (absent: the geo's policy decides); "
                          "v1: true/false, personalisation only")

    def check(self) -> None:
        _consent_shape(self, self.consent, allow_flag=True)
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


def _consent_shape(msg, consent, *, allow_flag: bool) -> None:
    """Each version's own shape of ``consent``: v1 a boolean (clickstream) or nothing (ad request),
    v2 the purposes object: a writer's mix-up is refused, not guessed."""
    if msg.v == 1 and isinstance(consent, Consent):
        raise msg.error("consent", "an object of purposes needs v 2 (v 1 carries "
                                   + ("true/false)" if allow_flag else "no consent)"))
    if msg.v == 1 and not allow_flag and consent is not None:
        raise msg.error("consent", "v 1 carries no consent")
    if msg.v != 1 and type(consent) is bool:
        raise msg.error("consent", "v 2 carries an object of purposes "
                                   "({\"personalisation\": true, \"measurement\": false}), not true/false")
