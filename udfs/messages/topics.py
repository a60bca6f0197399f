"""Which wire format each configured topic carries: the one table of topic → message class.

Keys are the topic keys of ``kafka.topics`` in conf/base.yaml (``cfg.kafka.topics.<key>``);
the broker-side names and partitions stay in the config, the formats are here, so a
topic's reader and writer find its class in one place (as a Quix Streams topic object
carries its serialisers). Everything that maps a topic to a format imports this table:
the docs generator (scripts/messages_doc.py), the synthetic world's writer and replay,
the stack tests. tests/contract/test_owners.py keeps its keys equal to the config's.
"""
from __future__ import annotations

from udfs.config import Config
from udfs.messages import (AdClick, AdRequest, CatalogChange, ClickEvent, Conversion, DeadLetter,
                           ErasureAudit, ErasureRequest, Impression, RankedAds, ServedLog, TrainingRow)

FORMATS: dict[str, type] = {
    "clicks": ClickEvent,
    "ad_requests": AdRequest,
    "ranked_ads": RankedAds,
    "served_log": ServedLog,
    "training_log": TrainingRow,
    "impressions": Impression,
    "ad_clicks": AdClick,
    "conversions": Conversion,
    "dead_letter": DeadLetter,
    "erasure": ErasureRequest,
    "erasure_audit": ErasureAudit,
    "catalog": CatalogChange,
}


def key_of(cls: type) -> str:
    """The topic key whose topic carries ``cls`` (each format has exactly one topic)."""
    (key,) = [k for k, c in FORMATS.items() if c is cls]
    return key


def name_of(cfg: Config, key: str) -> str:
    """The broker-side name of the topic with config key ``key``."""
    return getattr(cfg.kafka.topics, key).name
