"""Ad request (topic ``ad-requests.v1``): the ad server asks for ranked ads for one slot.

Version 2 adds ``consent``, the visitor's consent purposes (as on the clickstream); a v1
request carries none, so its purposes are absent and the geo's policy decides them
(``privacy.consent``; opt-in, the default: no personalisation, no measurement).
"""
from __future__ import annotations


from udfs.messages.base import Message, Part, spec, ts_spec
from udfs.messages.clickstream import DEVICES, Consent, _consent_shape


class RequestContext(Part):
    device: str = spec(default="mobile", choices=DEVICES)
    geo: str = spec(default="", max_len=16)
    page_category: str | None = spec(default=None, max_len=128)


class AdRequest(Message):
    SCHEMA = "ad_request"
    VERSION = 2
    VERSIONS = (1, 2)

    request_id: str = spec(max_len=128, doc="echoed in the response; the ad server matches on it")
    user_id: str | None = spec(max_len=128, doc="pseudonymous id; null for an anonymous visitor")
    ts: int = ts_spec("epoch milliseconds")
    slot: str = spec(max_len=64, doc="placement on the page, e.g. 'home_top'")
    num_ads: int = spec(min=1, max=50)
    context: RequestContext = spec(default=RequestContext())
    consent: Consent | None = spec(default=None, doc="v2: the visitor's consent purposes "
                                                     "(absent: the geo's policy decides)")

    def check(self) -> None:
        _consent_shape(self, self.consent, allow_flag=False)
        if not self.request_id:
            raise self.error("request_id", "must not be empty")
        if not self.slot:
            raise self.error("slot", "must not be empty")
