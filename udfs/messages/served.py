"""Served log (topic ``served-log.v1``): for every answered request, what it offered and why.

One record per ``RankedAds`` answer, keyed by request id: the request's user, slot and
time, the model and experiment variant that answered, and for each ranked ad its ids, bid
type and bid, the model's pCTR (and pCVR when one was used), eCPM, the auction price and
what one charged event costs, and the exact feature row the model scored. Prices for
spend come from here, never from the ad server's events. Built by
``udfs.core.served_log.build``; the scoring job publishes it, the feedback job joins
impressions to it (docs/feedback-job.md).

A feature row is the float32 input row the model scored, in the order of
``udfs.core.features.model_feature_names``, each value written as the float64 that holds it
exactly (so ``np.float32(decoded) == scored`` bit for bit); ``feature_set`` names that
order (``udfs.core.features.feature_set_id``) so a reader can check it is the list it
knows. An answer without a model (rule-based fallback) carries empty rows and an empty
``feature_set``.

Version 2 adds the request's consent decision (docs/privacy.md): ``personalised`` and
``measured``. The user id stays (the feedback job joins the ad server's impressions, which
carry it, on it); what the decision changes is what the feedback job keeps. A v1 record,
written before consent was decided, reads as both true, as it was treated then.
"""
from __future__ import annotations

from array import array

from udfs.messages.base import Message, Part, spec, ts_spec
from udfs.messages.catalog_change import BID_TYPES

#: What a bid type charges for: the event whose one occurrence costs ``charge``.
CHARGED_ON = {"CPM": "impression", "CPC": "click", "CPA": "conversion", "oCPA": "conversion"}
CHARGE_EVENTS = ("impression", "click", "conversion")
MAX_FEATURES = 1024


def charge_of(bid_type: str, price: float) -> float:
    """What one charged event costs at auction price ``price`` (in the bid type's unit):
    a CPM price is per 1000 impressions, the others per click or per conversion."""
    return price / 1000.0 if bid_type == "CPM" else price


class ServedAd(Part):
    ad_id: str = spec(max_len=128)
    campaign_id: str = spec(max_len=128)
    creative_id: str = spec(max_len=128)
    advertiser_id: str = spec(max_len=128)
    rank: int = spec(min=1, max=50, doc="1 = best; also the position it is offered for")
    bid_type: str = spec(choices=BID_TYPES)
    bid: float = spec(min=0.0, doc="effective bid in the bid type's unit (oCPA: after its factor)")
    pctr: float = spec(min=0.0, max=1.0)
    pcvr: float | None = spec(default=None, min=0.0, max=1.0, doc="conversion rate used (CPA, oCPA); null if none")
    ecpm: float = spec(min=0.0, doc="expected revenue per 1000 impressions")
    price: float = spec(min=0.0, doc="auction price in the bid type's unit (as RankedAd.price)")
    charged_on: str = spec(choices=CHARGE_EVENTS, doc="the event that is charged: CPM impression, "
                                                      "CPC click, CPA/oCPA conversion")
    charge: float = spec(min=0.0, doc="what one charged event costs: CPM price / 1000, else price")
    features: tuple[float, ...] = spec(max=MAX_FEATURES, doc="the float32 row the model scored, "
                                                            "in feature_set order; [] without a model")


class ServedLog(Message):
    SCHEMA = "served_log"
    VERSION = 2
    VERSIONS = (1, 2)   # v2 adds personalised and measured; a v1 record (from before consent) takes true

    request_id: str = spec(max_len=128, doc="the request and its RankedAds answer")
    user_id: str | None = spec(max_len=128, doc="pseudonymous id; null for an anonymous visitor")
    ts: int = ts_spec("when the answer was produced, epoch ms (RankedAds.ts)")
    slot: str = spec(max_len=64)
    model_version: str = spec(max_len=64, doc="model that scored it; 'none' for a rule-based fallback")
    variant: str = spec(default="control", max_len=64, doc="experiment variant")
    fallback: bool = spec(default=False)
    fallback_reason: str | None = spec(default=None, max_len=256)
    feature_set: str = spec(default="", max_len=64, doc="id of the feature order of the rows; "
                                                        "'' when the rows are empty")
    ads: tuple[ServedAd, ...] = spec(max=50)
    personalised: bool = spec(default=True, doc="the request had personalisation consent: false → the "
                                                "feedback job keeps no caps for the user")
    measured: bool = spec(default=True, doc="the request had measurement consent: false → its training "
                                            "rows carry no user_id")

    def check(self) -> None:
        if self.v == 1 and not (self.personalised and self.measured):
            raise self.error("measured" if self.personalised else "personalised",
                             "v 1 carries no consent decision (it needs v 2)")
        if not self.request_id:
            raise self.error("request_id", "must not be empty")
        if not self.slot:
            raise self.error("slot", "must not be empty")
        if self.fallback and not self.fallback_reason:
            raise self.error("fallback_reason", "required when fallback is true")
        ranks = [a.rank for a in self.ads]
        if ranks != list(range(1, len(ranks) + 1)):
            raise self.error("ads", f"ranks must be 1..{len(ranks)} in order, got {ranks}")
        for i, ad in enumerate(self.ads):
            self._check_ad(f"ads[{i}].", ad)
        widths = {len(a.features) for a in self.ads}
        if len(widths) > 1:
            raise self.error("ads", f"feature rows of different lengths {sorted(widths)}")
        scored = bool(self.ads) and widths != {0}
        if scored and not self.feature_set:
            raise self.error("feature_set", "required when the ads carry feature rows")
        if self.feature_set and self.ads and not scored:
            raise self.error("feature_set", "set, but the ads carry no feature rows")

    def _check_ad(self, at: str, ad: ServedAd) -> None:
        """One ad's cross-field rules (a part's own check() is not run when it is decoded)."""
        if ad.charged_on != CHARGED_ON[ad.bid_type]:
            raise self.error(at + "charged_on", f"a {ad.bid_type} bid is charged per "
                                                f"{CHARGED_ON[ad.bid_type]}, got {ad.charged_on!r}")
        if ad.charge != charge_of(ad.bid_type, ad.price):
            raise self.error(at + "charge", f"must be {charge_of(ad.bid_type, ad.price)!r} for a "
                                            f"{ad.bid_type} price of {ad.price!r}, got {ad.charge!r}")
        if ad.features:
            back = array("f", ad.features).tolist()   # to float32 and back: only float32 values survive
            if back != list(ad.features):
                i = next(k for k, (a, b) in enumerate(zip(back, ad.features)) if a != b)
                raise self.error(f"{at}features[{i}]", f"{ad.features[i]!r} is not a float32 value")
