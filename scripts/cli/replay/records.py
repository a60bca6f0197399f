"""What every replay source yields and shares: :class:`Record`, the stream → topic table,
the catalogue's upserts, the ``--streams`` list.

Keys: stream messages are keyed by ``user_id`` (null for anonymous visitors),
catalogue records by ``<kind>:<id>`` as the compacted ``ads.catalog`` topic
expects (:class:`udfs.core.catalog.CatalogChange`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from models.datasets import world_layout as layout
from models.datasets.world_layout import STREAMS as WORLD_STREAMS
from udfs.config import Config
from udfs.core.catalog import CatalogChange
from udfs.errors import AdstreamError
from udfs.messages import topics

#: Stream name -> key of its topic (``cfg.kafka.topics``): the world's streams, and its catalogue.
STREAM_TOPICS = {**layout.STREAM_TOPICS, "catalog": topics.key_of(CatalogChange)}
ALL_STREAMS = ("catalog",) + WORLD_STREAMS


@dataclass(frozen=True)
class Record:
    """One message to publish. ``ts`` (event time, ms) only orders merged streams."""
    topic: str
    key: bytes | None
    value: bytes | None
    ts: int = 0


def topic_of(cfg: Config, stream: str) -> str:
    return topics.name_of(cfg, STREAM_TOPICS[stream])


def user_key(user_id: str | None) -> bytes | None:
    return user_id.encode() if user_id else None


def catalog_records(cfg: Config, doc: dict) -> Iterator[Record]:
    """Upserts for every entity of a catalogue document: advertisers, campaigns, creatives."""
    topic = topic_of(cfg, "catalog")
    for section, kind in (("advertisers", "advertiser"), ("campaigns", "campaign"),
                          ("creatives", "creative")):
        for entity in doc.get(section, []):
            key, value = CatalogChange(kind, entity[f"{kind}_id"], entity).encode()
            yield Record(topic, key, value, -1)


def parse_streams(text: str | None, allowed: tuple[str, ...] = ALL_STREAMS) -> tuple[str, ...]:
    """``"events,requests"`` → ('events', 'requests'); None or 'all' → every allowed stream."""
    if not text or text == "all":
        return allowed
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        raise AdstreamError(f"unknown stream {unknown[0]!r} (choose from {', '.join(allowed)})")
    return chosen
