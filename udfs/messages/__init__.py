"""Wire formats, one module each. JSON on the wire; see docs/messages.md."""
from udfs.messages.ad_request import AdRequest, RequestContext
from udfs.messages.clickstream import ClickEvent
from udfs.messages.dead_letter import DeadLetter
from udfs.messages.erasure import ErasureRequest
from udfs.messages.feedback import AdClick, Conversion, Impression
from udfs.messages.ranked_ads import RankedAd, RankedAds

ALL = (ClickEvent, AdRequest, RankedAds, Impression, AdClick, Conversion, DeadLetter, ErasureRequest)

__all__ = ["AdRequest", "RequestContext", "ClickEvent", "DeadLetter", "ErasureRequest",
           "AdClick", "Conversion", "Impression", "RankedAd", "RankedAds", "ALL"]
