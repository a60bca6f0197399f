"""What the scoring step is given and what it can say about a fallback.

The protocols the Flink adapter (and unit tests) implement — profile source, model,
caps view, ad statistics — the fallback reason codes with their texts, and the
default implementations used until the feedback loop exists: ``NoStats`` (no ad
statistics) and ``DictCaps`` (caps over the job's own keyed state: it counts what
it served). Split from ``udfs/core/scoring.py`` to keep each file about one thing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

import numpy as np

from udfs.core.budget import BudgetView
from udfs.core.caps import CAMPAIGN, CREATIVE, FrequencyCaps, state_key
from udfs.core.catalog import Catalog, Creative

if TYPE_CHECKING:
    from udfs.core.experiments import Assigner

NO_MODEL = "none"

# Fallback reason codes (metrics count them; the response carries the text).
ANONYMOUS = "anonymous"
NO_CONSENT = "no_consent"   # no personalisation consent: no profile read, no caps kept for the user
UNKNOWN_USER = "unknown_user"
PROFILE_EXPIRED = "profile_expired"     # idle longer than the profile TTL: training treats it as unknown
PROFILE_TIMEOUT = "profile_timeout"
PROFILE_ERROR = "profile_error"
PROFILE_SKIPPED = "profile_skipped"     # breaker open: the store failed repeatedly just now
NO_MODEL_LOADED = "no_model"
MODEL_ERROR = "model_error"
MODEL_STALE = "model_stale"   # the promoted model failed to load: an older one ranked
INVALID = "invalid_request"
INTERNAL = "internal_error"
REASONS = (ANONYMOUS, NO_CONSENT, UNKNOWN_USER, PROFILE_EXPIRED, PROFILE_TIMEOUT, PROFILE_ERROR, PROFILE_SKIPPED,
           NO_MODEL_LOADED, MODEL_ERROR, MODEL_STALE, INVALID, INTERNAL)
TEXT = {ANONYMOUS: "anonymous visitor: contextual ranking",
        NO_CONSENT: "no personalisation consent: contextual ranking",
        UNKNOWN_USER: "no profile for this user: contextual ranking",
        PROFILE_EXPIRED: "profile idle longer than its TTL: contextual ranking",
        PROFILE_TIMEOUT: "feature store timeout: contextual ranking",
        PROFILE_ERROR: "feature store error: contextual ranking",
        PROFILE_SKIPPED: "feature store unavailable (breaker open): contextual ranking",
        NO_MODEL_LOADED: "no model loaded: prior-CTR ranking",
        MODEL_ERROR: "model failed: prior-CTR ranking",
        MODEL_STALE: "the promoted model could not be loaded: ranked by the previous one"}


class ProfileUnavailable(Exception):
    """The profile could not be read; ``kind`` is a PROFILE_* reason code."""

    def __init__(self, kind: str, detail: str = ""):
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail else kind)


class ProfileSource(Protocol):
    def read(self, user_id: str) -> Mapping | None:
        """The user's profile features, None when there is none; raises ProfileUnavailable."""

    # Optional: ``read_many(user_ids) -> list`` — several users' ``read`` results in one round
    # trip, aligned with ``user_ids``; raises ProfileUnavailable for all of them at once. A
    # source without it is read user by user (``RequestScorer.handle_batch``).


class Model(Protocol):
    version: str

    def score(self, X: np.ndarray) -> np.ndarray:
        """pCTR per row of the model-feature matrix."""


class Pacing(Protocol):
    active: bool    # some campaign is throttled (else ``admits`` is always True)

    def admits(self, campaign_id: str, request_id: str) -> bool: ...


class CapsView(Protocol):
    def filter(self, user_id: str | None, creatives: Sequence[Creative],
              now_ms: int) -> tuple[list[Creative], int]: ...

    def record(self, user_id: str | None, creatives: Sequence[Creative], now_ms: int) -> None: ...


class AdStats(Protocol):
    """What the feedback loop will know about ads; until then :class:`NoStats`."""

    def ctr_prior(self, creative_id: str) -> float | None: ...

    def cpa(self, campaign_id: str) -> tuple[float | None, int]: ...

    def impressions_clicks(self, creative_id: str) -> tuple[int, int]: ...


class NoStats:
    version = 0

    def ctr_prior(self, creative_id: str) -> float | None:
        return None

    def cpa(self, campaign_id: str) -> tuple[float | None, int]:
        return None, 0

    def impressions_clicks(self, creative_id: str) -> tuple[int, int]:
        return 0, 0


NO_STATS = NoStats()


class DictCaps:
    """Caps over a plain dict (what a keyed-state value holds): the job counts what it served."""

    def __init__(self, caps: FrequencyCaps, state: dict):
        self.caps, self.state, self.changed = caps, state, False

    def filter(self, user_id, creatives, now_ms):
        """``FrequencyCaps.filter``, asking the rules only about creatives this user has counts for."""
        st = self.state
        if not user_id or not st:
            return list(creatives), 0
        # The ids this user has counts for, read off the state's keys once (a key per id served).
        camp_p, cr_p = state_key(CAMPAIGN, user_id, ""), state_key(CREATIVE, user_id, "")
        camps = {k[len(camp_p):] for k in st if k.startswith(camp_p)}
        crs = {k[len(cr_p):] for k in st if k.startswith(cr_p)}
        kept, capped = [], 0
        for c in creatives:
            if ((c.campaign_id in camps or c.creative_id in crs)
                    and not self.caps.allowed(st, user_id, c, now_ms)):
                capped += 1
            else:
                kept.append(c)
        return kept, capped

    def record(self, user_id, creatives, now_ms):
        if user_id and creatives:
           for c in creatives:
               self.caps.record(self.state, user_id, c, now_ms)
           self.caps.prune(self.state, now_ms)
           self.changed = True


class ImpressionCaps(DictCaps):
    """Caps on what the user has *seen*: the feedback job's stored impressions merged with the
    job's own answers of the last ``reconcile_ms`` (``udfs.core.seen.merge``: the race bound).
    ``stored()`` gives the stored caps state read with this request's profile, or None when
    that read did not happen or failed — then the job's own answers over the whole window
    decide alone (as many as were shown, or more: an outage caps more, never less)."""

    def __init__(self, caps: FrequencyCaps, state: dict, stored: Callable[[], dict | None],
                 reconcile_ms: int):
        super().__init__(caps, state)
        self.stored, self.reconcile_ms = stored, reconcile_ms

    def filter(self, user_id, creatives, now_ms):
        from udfs.core.seen import merge
        stored = self.stored() if user_id else None
        if stored is None:
            return super().filter(user_id, creatives, now_ms)
        own = self.state
        self.state = merge(stored, own, now_ms, self.reconcile_ms)
        try:
            return super().filter(user_id, creatives, now_ms)
        finally:
            self.state = own



class UserCaps:
    """The caps view of a batch of requests from several users (``RequestScorer.handle_batch``):
    each user's own view, made by ``view_of(user_id)`` on first use and kept for the batch, so
    a user's second request sees what the first was served. ``views`` lets the adapter write
    back the users whose state ``changed``."""

    def __init__(self, view_of: Callable[[str], CapsView]):
        self.view_of = view_of
        self.views: dict[str, CapsView] = {}

    def _view(self, user_id: str) -> CapsView:
        v = self.views.get(user_id)
        if v is None:
            v = self.views[user_id] = self.view_of(user_id)
        return v

    def filter(self, user_id, creatives, now_ms):
        if not user_id:   # nobody's caps (anonymous, no consent): as DictCaps answers it
            return list(creatives), 0
        return self._view(user_id).filter(user_id, creatives, now_ms)

    def record(self, user_id, creatives, now_ms):
        if user_id:
            self._view(user_id).record(user_id, creatives, now_ms)

@dataclass
class Deps:
    """The per-request environment the adapter provides."""
    catalog: Catalog
    budget: BudgetView
    caps: CapsView
    profiles: ProfileSource | None
    model: Model | None
    stats: AdStats = NO_STATS
    model_stale: bool = False   # the registry's current model failed to load; ``model`` is the one kept
    pacing: "Pacing | None" = None      # budget pacing (udfs.core.pacing.Pacer); None: no throttling
    experiments: "Assigner | None" = None   # the request's variant (udfs.core.experiments); None: self.variant
    models: Mapping[str, Model] = dataclasses.field(default_factory=dict)  # pinned versions variants rank with, loaded


def read_failure(e: BaseException) -> str:
    """The fallback reason of a profile read that raised ``e`` (a timeout, an open breaker, …)."""
    return e.kind if isinstance(e, ProfileUnavailable) and e.kind in TEXT else PROFILE_ERROR
