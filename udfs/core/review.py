"""Automated creative review: only an approved creative can be served.

Rules, checked in this order (the first failure is the reason):

1. required fields present: ``title``, ``landing_url``, ``category_id``;
2. ``landing_url`` is an absolute ``https://`` URL with a host;
3. the title's length (stripped) is within ``[title_min_len, title_max_len]``;
4. no blocked term of the policy occurs in the title or landing URL, matched
   case-insensitively as a whole word (``"casino"`` blocks "Casino night" but not
   "casinos"); a multi-word term matches across any whitespace.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from udfs.core.catalog import Catalog, Creative
from udfs.config import ReviewPolicy
from udfs.messages.base import replace   # checked as an entity built in code is

APPROVED = "approved"
REJECTED = "rejected"


@dataclass(frozen=True)
class ReviewResult:
    status: str              # 'approved' or 'rejected'
    reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED


@functools.lru_cache(maxsize=32)
def _blocked_patterns(terms: tuple[str, ...]) -> tuple[tuple[str, re.Pattern], ...]:
    out = []
    for term in terms:
        words = term.split()
        if not words:
            continue
        body = r"\s+".join(re.escape(w) for w in words)
        out.append((term, re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)))
    return tuple(out)


def blocked_term(text: str, policy: ReviewPolicy) -> str | None:
    """The first of the policy's blocked terms that occurs in ``text`` as a whole word."""
    for term, pattern in _blocked_patterns(tuple(policy.blocked_terms)):
        if pattern.search(text):
            return term
    return None


def review(creative: Creative, policy: ReviewPolicy) -> ReviewResult:
    """Review one creative against ``policy``; the reason names the failed rule."""
    for field in ("title", "landing_url", "category_id"):
        value = getattr(creative, field)
        if value is None or not value.strip():
            return ReviewResult(REJECTED, f"missing {field}")
    url = urlsplit(creative.landing_url.strip())
    if url.scheme.lower() != "https" or not url.hostname:
        return ReviewResult(REJECTED, "landing_url must be an https:// URL")
    n = len(creative.title.strip())
    if not policy.title_min_len <= n <= policy.title_max_len:
        return ReviewResult(REJECTED, f"title length {n} outside "
                                      f"[{policy.title_min_len}, {policy.title_max_len}]")
    for field in ("title", "landing_url"):
        term = blocked_term(getattr(creative, field), policy)
        if term is not None:
            return ReviewResult(REJECTED, f"blocked term {term!r} in {field}")
    return ReviewResult(APPROVED)


def reviewed(creative: Creative, policy: ReviewPolicy) -> Creative:
    """The creative with ``review_status`` / ``review_reason`` set from :func:`review`."""
    r = review(creative, policy)
    return replace(creative, review_status=r.status, review_reason=r.reason)


def review_pending(catalog: Catalog, policy: ReviewPolicy) -> list[Creative]:
    """Review every *pending* creative in ``catalog`` in place; returns the updated ones.

    Creatives already approved or rejected (e.g. by a human) are left as they are.
    """
    out = []
    for c in catalog.creatives():
        if c.review_status == "pending":
            c2 = reviewed(c, policy)
            catalog.put(c2)
            out.append(c2)
    return out


def is_servable(creative: Creative) -> bool:
    return creative.review_status == APPROVED
