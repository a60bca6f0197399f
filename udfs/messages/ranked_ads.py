"""Ranked-ads response (topic ``ranked-ads.v1``): the answer to one ad request."""
from __future__ import annotations

from typing import Mapping

from udfs.messages.base import Message, Part, spec, ts_spec


class RankedAd(Part):
    ad_id: str = spec(max_len=128)
    campaign_id: str = spec(max_len=128)
    creative_id: str = spec(max_len=128)
    advertiser_id: str = spec(max_len=128)
    rank: int = spec(min=1)
    pctr: float = spec(min=0.0, max=1.0)
    ecpm: float = spec(min=0.0, doc="expected revenue per 1000 impressions")
    price: float = spec(min=0.0, doc="second-price style charge, per the campaign's bid type")


class RankedAds(Message):
    SCHEMA = "ranked_ads"
    VERSION = 1

    request_id: str = spec(max_len=128)
    ts: int = ts_spec("when the answer was produced, epoch ms")
    ads: tuple[RankedAd, ...] = spec(max=50)
    model_version: str = spec(max_len=64, doc="model that scored it; 'none' for a rule-based fallback")
    variant: str = spec(default="control", max_len=64, doc="experiment variant")
    fallback: bool = spec(default=False, doc="true when the answer is not the full personalised ranking")
    fallback_reason: str | None = spec(default=None, max_len=256)
    timings_ms: Mapping[str, float] = spec(default={}, max=64, max_len=64, doc="stage -> milliseconds")

    def check(self) -> None:
        if not self.request_id:
            raise self.error("request_id", "must not be empty")
        if self.fallback and not self.fallback_reason:
            raise self.error("fallback_reason", "required when fallback is true")
        ranks = [a.rank for a in self.ads]
        if ranks != list(range(1, len(ranks) + 1)):
            raise self.error("ads", f"ranks must be 1..{len(ranks)} in order, got {ranks}")
