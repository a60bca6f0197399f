"""Candidate selection: which creatives may be shown for one request, and why not the rest.

:func:`eligible` walks the catalogue and keeps a creative when it is approved, its
campaign and advertiser exist and are active, the campaign is within its date range
and UTC hours, the request/user match every targeting dimension the campaign sets,
and the campaign has budget left. Each excluded creative is counted once, under the
first rule it fails (order of :data:`REASONS`).

Unknown user attributes (``None``; an empty request geo) match only campaigns that do
not target that dimension. Age band, gender and region come from the ``user_attributes``
view (a user table, ``adstream users load``; docs/interests.md), read with the profile;
the request's geo wins over the account's region. Keywords match when every token of one of
the campaign's keywords (tokenised as queries are, ``udfs.core.keywords``) is among the user's
recent search keywords (the profile's ``top_search_keywords``). Interests match when the user's top categories intersect
the campaign's interest categories; segments when the profile's ``segment_id`` (the profile
job's nearest centroid, udfs/core/segments.py) is one the campaign lists.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from udfs.core.budget import BudgetView
from udfs.core.catalog import Campaign, Catalog, Creative
from udfs.core.keywords import tokenise
from udfs.messages.ad_request import RequestContext

HOUR_MS = 3_600_000

NOT_APPROVED = "not_approved"
NO_CAMPAIGN = "no_campaign"            # campaign missing, or creative/campaign advertiser differ
ADVERTISER_INACTIVE = "advertiser_inactive"
CAMPAIGN_PAUSED = "campaign_paused"
CAMPAIGN_ENDED = "campaign_ended"
BEFORE_START = "before_start"
AFTER_END = "after_end"
OFF_SCHEDULE = "off_schedule"
GEO = "geo"
DEVICE = "device"
AGE = "age"
GENDER = "gender"
INTEREST = "interest"
KEYWORD = "keyword"
SEGMENT = "segment"
BUDGET = "budget"
REASONS = (NOT_APPROVED, NO_CAMPAIGN, ADVERTISER_INACTIVE, CAMPAIGN_PAUSED, CAMPAIGN_ENDED,
           BEFORE_START, AFTER_END, OFF_SCHEDULE, GEO, DEVICE, AGE, GENDER, INTEREST, KEYWORD, SEGMENT, BUDGET)


@dataclass(frozen=True, kw_only=True)
class UserAttrs:
    """What is known about the user; ``None`` = unknown (e.g. anonymous or no features)."""
    age_band: str | None = None
    gender: str | None = None
    top_categories: tuple[str, ...] | None = None
    geo: str | None = None   # used when the request carries no geo
    search_keywords: tuple[str, ...] | None = None   # the profile's top_search_keywords
    segment_id: int | None = None   # the profile's segment; None: unknown (no profile, no centroids)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> "UserAttrs":
        """From a feature row; missing keys and empty values are unknown."""
        if not m:
            return ANONYMOUS
        cats = m.get("top_categories")
        if isinstance(cats, str):
            cats = [c for c in cats.split(",") if c]
        words = m.get("top_search_keywords")
        seg = m.get("segment_id")
        # ``region`` is the user table's (user_attributes view): the account's country/region
        return cls(age_band=m.get("age_band") or None, gender=m.get("gender") or None,
                   top_categories=tuple(cats) if cats else None,
                   geo=m.get("geo") or m.get("region") or None,
                   search_keywords=tuple(words) if words else None,
                   segment_id=int(seg) if seg is not None and int(seg) >= 0 else None)


ANONYMOUS = UserAttrs()


class Selection(NamedTuple):
    creatives: list[Creative]        # eligible, sorted by creative_id
    excluded: Counter                # reason -> number of creatives excluded for it


def hour_of_day(now_ms: int) -> int:
    """UTC hour 0..23 of an epoch-milliseconds timestamp."""
    return (now_ms // HOUR_MS) % 24


def _match(wanted: tuple[str, ...], have: str | None) -> bool:
    return not wanted or (have is not None and have in wanted)


@functools.lru_cache(maxsize=4096)
def keyword_tokens(keywords: tuple[str, ...]) -> tuple[frozenset, ...]:
    """A campaign's keywords tokenised as queries are (once per distinct rule)."""
    return tuple(frozenset(t) for t in map(tokenise, keywords) if t)


def keyword_match(keywords: tuple[str, ...], user_words: tuple[str, ...] | None) -> bool:
    """True when every token of one of ``keywords`` is among ``user_words``."""
    if not user_words:
        return False
    have = set(user_words)
    return any(toks <= have for toks in keyword_tokens(keywords))


def campaign_exclusion(catalog: Catalog, campaign: Campaign | None, ctx: RequestContext,
                       user: UserAttrs, now_ms: int, budget: BudgetView) -> str | None:
    """Why ``campaign`` cannot serve this request (a :data:`REASONS` entry), or None."""
    if campaign is None:
        return NO_CAMPAIGN
    adv = catalog.advertiser(campaign.advertiser_id)
    if adv is None or adv.status != "active":
        return ADVERTISER_INACTIVE
    if campaign.status != "active":
        return CAMPAIGN_PAUSED if campaign.status == "paused" else CAMPAIGN_ENDED
    s = campaign.schedule
    if s.start_ts is not None and now_ms < s.start_ts:
        return BEFORE_START
    if s.end_ts is not None and now_ms >= s.end_ts:
        return AFTER_END
    if s.hours and hour_of_day(now_ms) not in s.hours:
        return OFF_SCHEDULE
    t = campaign.targeting
    if not _match(t.geos, ctx.geo or user.geo or None):
        return GEO
    if not _match(t.devices, ctx.device or None):
        return DEVICE
    if not _match(t.age_bands, user.age_band):
        return AGE
    if not _match(t.genders, user.gender):
        return GENDER
    if t.interests and not set(t.interests).intersection(user.top_categories or ()):
        return INTEREST
    if t.keywords and not keyword_match(t.keywords, user.search_keywords):
        return KEYWORD
    if t.segments and user.segment_id not in t.segments:
        return SEGMENT
    if budget.remaining(campaign.campaign_id, now_ms) <= 0:
        return BUDGET
    return None


def eligible(catalog: Catalog, request_ctx: RequestContext, user_attrs: UserAttrs | None,
             now_ms: int, budget_view: BudgetView) -> Selection:
    """Creatives that may be shown now for this request, plus exclusion counts by reason."""
    user = user_attrs or ANONYMOUS
    keep: list[Creative] = []
    excluded: Counter = Counter()
    for campaign_id in catalog.campaign_ids_with_creatives():
        creatives = catalog.creatives_of(campaign_id)
        approved = [c for c in creatives if c.review_status == "approved"]
        if len(approved) < len(creatives):
            excluded[NOT_APPROVED] += len(creatives) - len(approved)
        if not approved:
            continue
        campaign = catalog.campaign(campaign_id)
        reason = campaign_exclusion(catalog, campaign, request_ctx, user, now_ms, budget_view)
        if reason is not None:
            excluded[reason] += len(approved)
            continue
        for c in approved:
            if c.advertiser_id != campaign.advertiser_id:
                excluded[NO_CAMPAIGN] += 1
            else:
                keep.append(c)
    keep.sort(key=lambda c: c.creative_id)
    return Selection(keep, excluded)
