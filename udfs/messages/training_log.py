"""Training log (topic ``training-log.v1``): every attributed impression with its labels.

One record per impression once its click window has closed (``model.click_window_s`` plus
``feedback.allowed_lateness_ms`` of event time), written by the feedback job's attribution
step, keyed by impression id: what was shown (campaign, creative, position, bid type), the
model and variant that ranked it, the model's pCTR and the exact feature row it scored
(copied from the served log, float32 values as in ``ServedAd.features``), and the labels
known then: clicked, conversions and their order value. Version 2 adds ``charge`` (what one
charged event of the row's bid type costs: revenue per variant needs it); a v1 row reads with
charge 0.

The rule for late labels: a row is written once per revision. A label attributed after its
impression's row was written (a conversion inside ``model.conversion_window_s``, or a
click that arrived within the allowed lateness after the window closed) writes the
impression's row again with ``revision`` + 1 and every label as now known; a reader keeps
the highest revision of each impression id (``udfs.io.training_log_store``). Labels never
go back: a later revision has at least the clicks and conversions of an earlier one.
"""
from __future__ import annotations

from array import array

from udfs.messages.base import Message, spec, ts_spec
from udfs.messages.catalog_change import BID_TYPES
from udfs.messages.served import MAX_FEATURES


class TrainingRow(Message):
    SCHEMA = "training_log"
    VERSION = 2
    VERSIONS = (1, 2)   # v2 adds charge; a v1 row (from before it) takes 0

    impression_id: str = spec(max_len=128, doc="the impression this row labels")
    request_id: str = spec(max_len=128, doc="the request it was shown for")
    user_id: str | None = spec(max_len=128, doc="pseudonymous id; null for an anonymous visitor")
    ts: int = ts_spec("when the impression was shown, epoch ms (the ad server's event time)")
    campaign_id: str = spec(max_len=128)
    creative_id: str = spec(max_len=128)
    bid_type: str = spec(choices=BID_TYPES)
    rank: int = spec(min=1, max=50, doc="the position the answer offered it at (1 = best)")
    model_version: str = spec(max_len=64, doc="the model that ranked it ('none': a rule-based fallback)")
    variant: str = spec(max_len=64, doc="experiment variant of the answer")
    pctr: float = spec(min=0.0, max=1.0, doc="the pCTR the auction used")
    feature_set: str = spec(default="", max_len=64, doc="id of the feature order ('' without a model)")
    features: tuple[float, ...] = spec(max=MAX_FEATURES, doc="the float32 row the model scored, from the "
                                                            "served log; [] without a model")
    clicked: bool = spec(doc="a click was attributed within model.click_window_s")
    conversions: int = spec(min=0, doc="conversions attributed so far within model.conversion_window_s")
    conversion_value: float = spec(min=0.0, doc="their summed order value")
    charge: float = spec(default=0.0, min=0.0, doc="what one charged event of its bid type costs the "
                         "advertiser (CPM: the impression; CPC: a click; CPA/oCPA: each conversion)")
    revision: int = spec(min=0, doc="0 when first written; +1 for each late label (keep the highest)")
    labelled_ts: int = ts_spec("event time the labels are as of, epoch ms; increases with revision")

    def check(self) -> None:
        if self.v == 1 and self.charge:
            raise self.error("charge", "v 1 carries no charge (it needs v 2)")
        if not self.impression_id:
            raise self.error("impression_id", "must not be empty")
        if self.features and not self.feature_set:
            raise self.error("feature_set", "required when the row carries features")
        if self.features:
            back = array("f", self.features).tolist()
            if back != list(self.features):
                i = next(k for k, (a, b) in enumerate(zip(back, self.features)) if a != b)
                raise self.error(f"features[{i}]", f"{self.features[i]!r} is not a float32 value")
