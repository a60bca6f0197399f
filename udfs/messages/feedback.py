"""Feedback events from the ad server: impressions, clicks on ads, conversions.

Topics ``impressions.v1``, ``clicks-on-ads.v1``, ``conversions.v1``. Each links back
to the request and impression so statistics, budgets and training labels join.
The formats are fixed, validated and written by the synthetic world's replay; no job
consumes them yet (planned: the feedback job), so today they change nothing online.
"""
from __future__ import annotations


from udfs.messages.base import Message, spec, ts_spec


class Impression(Message):
    SCHEMA = "impression"
    VERSION = 1

    impression_id: str = spec(max_len=128)
    request_id: str = spec(max_len=128)
    user_id: str | None = spec(max_len=128)
    ad_id: str = spec(max_len=128)
    campaign_id: str = spec(max_len=128)
    creative_id: str = spec(max_len=128)
    ts: int = ts_spec()
    position: int = spec(min=1, max=50)
    price: float = spec(min=0.0, doc="what was charged for this impression (CPM-equivalent / 1000)")


class AdClick(Message):
    SCHEMA = "ad_click"
    VERSION = 1

    click_id: str = spec(max_len=128)
    impression_id: str = spec(max_len=128)
    request_id: str = spec(max_len=128)
    user_id: str | None = spec(max_len=128)
    ad_id: str = spec(max_len=128)
    campaign_id: str = spec(max_len=128)
    ts: int = ts_spec()


class Conversion(Message):
    SCHEMA = "conversion"
    VERSION = 1

    conversion_id: str = spec(max_len=128)
    impression_id: str = spec(max_len=128)
    click_id: str | None = spec(default=None, max_len=128, doc="null for a view-through conversion")
    user_id: str | None = spec(max_len=128)
    campaign_id: str = spec(max_len=128)
    ts: int = ts_spec()
    value: float = spec(min=0.0, doc="order value in the site's currency")
