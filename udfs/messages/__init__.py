"""Wire formats, one module each. JSON on the wire; see docs/messages.md.

``ENVELOPED``: the formats whose every value is one object carrying ``schema`` and ``v``
(:class:`~udfs.messages.base.Message`). ``ALL`` adds the catalogue change, a keyed record
of the compacted catalogue topic whose value is the entity itself (no envelope).
Which topic carries which format is :mod:`udfs.messages.topics`.
"""
from udfs.messages.ad_request import AdRequest, RequestContext
from udfs.messages.catalog_change import CatalogChange
from udfs.messages.clickstream import ClickEvent, Consent
from udfs.messages.dead_letter import DeadLetter
from udfs.messages.erasure import ErasureRequest
from udfs.messages.erasure_audit import ErasureAudit
from udfs.messages.feedback import AdClick, Conversion, Impression
from udfs.messages.ranked_ads import RankedAd, RankedAds
from udfs.messages.served import ServedAd, ServedLog
from udfs.messages.training_log import TrainingRow

ENVELOPED = (ClickEvent, AdRequest, RankedAds, ServedLog, TrainingRow, Impression, AdClick, Conversion, DeadLetter,
             ErasureRequest, ErasureAudit)
ALL = ENVELOPED + (CatalogChange,)

__all__ = ["AdRequest", "RequestContext", "CatalogChange", "ClickEvent", "Consent", "DeadLetter", "ErasureRequest",
           "ErasureAudit", "AdClick", "Conversion", "Impression", "RankedAd", "RankedAds", "ServedAd", "ServedLog",
           "TrainingRow", "ENVELOPED", "ALL"]
