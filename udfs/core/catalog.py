"""The ad catalogue: advertisers, campaigns and creatives in memory, kept current by change records.

A :class:`Catalog` is built from one JSON document (:meth:`Catalog.from_json`,
:meth:`Catalog.load`) and kept current by change records from the compacted
``ads.catalog`` topic (:meth:`Catalog.apply`). The entities and the change record are
a wire format, so they live with the others in :mod:`udfs.messages.catalog_change`
(documented in docs/messages.md); this module adds the document, the lookups and the
reference checks (docs/ranking.md). Every validation failure raises
:class:`CatalogError` naming the entity, its id and the field.

Pure: no I/O except :meth:`Catalog.load` reading a file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from udfs.errors import CatalogError
# The wire format (entities and change records) is udfs.messages.catalog_change's; these
# names are re-exported because every catalogue user imports them from here.
from udfs.messages.catalog_change import (ADVERTISER_STATUSES, BID_TYPES, CAMPAIGN_STATUSES, KINDS,
                                          REVIEW_STATUSES, Advertiser, Campaign, CatalogChange, Creative,
                                          Entity, Schedule, Targeting, entity_from_dict, entity_to_dict,
                                          kind_of)

__all__ = ["ADVERTISER_STATUSES", "BID_TYPES", "CAMPAIGN_STATUSES", "KINDS", "REVIEW_STATUSES", "Advertiser",
           "Campaign", "Catalog", "CatalogChange", "Creative", "Entity", "Schedule", "Targeting",
           "entity_from_dict", "entity_to_dict", "kind_of"]

_SECTIONS = {"advertisers": "advertiser", "campaigns": "campaign", "creatives": "creative"}


# -------------------------------------------------------------------- catalog

class Catalog:
    """In-memory catalogue with lookups by id and creatives indexed by campaign.

    References are checked strictly when a whole document is loaded, but not by
    :meth:`apply`: a compacted topic may replay a creative before its campaign, so a
    dangling reference is allowed and targeting treats such a creative as ineligible.
    """

    def __init__(self) -> None:
        self._advertisers: dict[str, Advertiser] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._creatives: dict[str, Creative] = {}
        self._by_campaign: dict[str, dict[str, Creative]] = {}
        self.version = 0    # bumped on every change; callers may cache on it

    # ----------------------------------------------------------- lookups
    def advertiser(self, advertiser_id: str) -> Advertiser | None:
        return self._advertisers.get(advertiser_id)

    def campaign(self, campaign_id: str) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    def creative(self, creative_id: str) -> Creative | None:
        return self._creatives.get(creative_id)

    def advertisers(self) -> list[Advertiser]:
        return [self._advertisers[k] for k in sorted(self._advertisers)]

    def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns)]

    def creatives(self) -> list[Creative]:
        return [self._creatives[k] for k in sorted(self._creatives)]

    def creatives_of(self, campaign_id: str) -> list[Creative]:
        group = self._by_campaign.get(campaign_id, {})
        return [group[k] for k in sorted(group)]

    def campaign_ids_with_creatives(self) -> list[str]:
        return sorted(self._by_campaign)

    def __len__(self) -> int:
        return len(self._advertisers) + len(self._campaigns) + len(self._creatives)

    def __iter__(self) -> Iterator[Entity]:
        yield from self.advertisers()
        yield from self.campaigns()
        yield from self.creatives()

    # ----------------------------------------------------------- updates
    def put(self, entity: Entity) -> None:
        """Insert or replace one entity."""
        if isinstance(entity, Advertiser):
            self._advertisers[entity.id] = entity
        elif isinstance(entity, Campaign):
            self._campaigns[entity.id] = entity
        elif isinstance(entity, Creative):
            old = self._creatives.get(entity.id)
            if old is not None and old.campaign_id != entity.campaign_id:
                self._unindex(old)
            self._creatives[entity.id] = entity
            self._by_campaign.setdefault(entity.campaign_id, {})[entity.id] = entity
        else:
            raise TypeError(f"not a catalogue entity: {entity!r}")
        self.version += 1

    def remove(self, kind: str, entity_id: str) -> Entity | None:
        """Delete one entity; returns it, or None if it was not there. No cascade."""
        if kind == "advertiser":
            old = self._advertisers.pop(entity_id, None)
        elif kind == "campaign":
            old = self._campaigns.pop(entity_id, None)
        elif kind == "creative":
            old = self._creatives.pop(entity_id, None)
            if old is not None:
                self._unindex(old)
        else:
            raise CatalogError("change", entity_id, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        if old is not None:
            self.version += 1
        return old

    def _unindex(self, creative: Creative) -> None:
        group = self._by_campaign.get(creative.campaign_id)
        if group is not None:
            group.pop(creative.id, None)
            if not group:
                del self._by_campaign[creative.campaign_id]

    def apply(self, change: CatalogChange) -> Entity | None:
        """Apply one change record; returns the new entity (None for a delete).

        The record is validated before anything changes, so a bad record leaves the
        catalogue as it was.
        """
        if change.value is None:
            self.remove(change.kind, change.entity_id)
            return None
        entity = entity_from_dict(change.kind, change.value)
        if entity.id != change.entity_id:
            raise CatalogError(change.kind, change.entity_id, entity.ID_FIELD,
                               f"{entity.id!r} does not match the key {change.key!r}")
        self.put(entity)
        return entity

    def apply_record(self, key: bytes | str, value: bytes | str | Mapping[str, Any] | None) -> Entity | None:
        """:meth:`apply` on a raw Kafka (key, value)."""
        return self.apply(CatalogChange.parse(key, value))

    # ----------------------------------------------------------- documents
    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Catalog":
        """Build from ``{"advertisers": [...], "campaigns": [...], "creatives": [...]}``.

        Ids must be unique per kind; a campaign's advertiser and a creative's campaign
        must exist, and a creative's advertiser must be its campaign's.
        """
        if not isinstance(doc, Mapping):
            raise CatalogError("catalog", None, "<document>", f"expected a JSON object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - set(_SECTIONS))
        if unknown:
            raise CatalogError("catalog", None, unknown[0],
                               f"unknown section (known: {', '.join(_SECTIONS)})")
        cat = cls()
        for section, kind in _SECTIONS.items():
            items = doc.get(section, [])
            if not isinstance(items, list):
                raise CatalogError("catalog", None, section, f"expected a list, got {type(items).__name__}")
            seen: set[str] = set()
            for item in items:
                entity = entity_from_dict(kind, item)
                if entity.id in seen:
                    raise CatalogError(kind, entity.id, entity.ID_FIELD, "duplicate id")
                seen.add(entity.id)
                cat.put(entity)
        cat.check_references()
        return cat

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError("catalog", None, "<file>", f"{p} not found") from None
        except json.JSONDecodeError as e:
            raise CatalogError("catalog", None, "<file>", f"{p} is not JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_json(doc)

    def to_json(self) -> dict:
        return {"advertisers": [entity_to_dict(a) for a in self.advertisers()],
                "campaigns": [entity_to_dict(c) for c in self.campaigns()],
                "creatives": [entity_to_dict(c) for c in self.creatives()]}

    def check_references(self) -> None:
        """Raise :class:`CatalogError` on the first dangling or inconsistent reference."""
        for c in self.campaigns():
            if c.advertiser_id not in self._advertisers:
                raise CatalogError("campaign", c.id, "advertiser_id", f"unknown advertiser {c.advertiser_id!r}")
        for cr in self.creatives():
            camp = self._campaigns.get(cr.campaign_id)
            if camp is None:
                raise CatalogError("creative", cr.id, "campaign_id", f"unknown campaign {cr.campaign_id!r}")
            if cr.advertiser_id != camp.advertiser_id:
                raise CatalogError("creative", cr.id, "advertiser_id",
                                   f"{cr.advertiser_id!r} differs from campaign {camp.id!r}'s "
                                   f"advertiser {camp.advertiser_id!r}")
