"""Erasure requests' rules, pure: the audit record each erasing part writes, and the names of the
stores it counts (docs/privacy.md, "Erasure").

One place for the store names, so that the jobs' records, the command's record and ``privacy
verify`` speak of the same stores; the audit record itself is ``udfs.messages.ErasureAudit``.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from udfs.messages import ErasureAudit, ErasureRequest

# store names, as audit records and `privacy verify` print them
PROFILE_STATE = "flink.profile_state"        # profiles in the profile job's keyed state (0 or 1)
DEDUPE_IDS = "flink.profile_dedupe_ids"      # event ids the profile state kept for de-duplication
ONLINE_FIELDS = "redis.user_hash_fields"     # fields of the user's online hash (profile, caps, ...)
CAPS_STATE = "flink.feedback_caps_entries"   # caps entries in the feedback job's keyed state
SCORING_CAPS = "flink.scoring_caps_entries"  # the scoring job's local caps counts for the user
TRAINING_ROWS = "training_log.rows"          # training-log rows with the user's id
TRAINING_FILES = "training_log.files_rewritten"
OFFLINE_ROWS = "offline_store.rows"          # rows of the Feast offline files keyed by the user

COMMAND = "adstream-privacy"   # the `by` of the command's own record


def audit(request: ErasureRequest, by: str, stores: Mapping[str, int], now_ms: int) -> ErasureAudit:
    """The audit record of ``by``'s part of ``request``, done at ``now_ms``.

    A request stamped later than the eraser's clock (the two clocks disagree) is recorded as
    completed at its own time, never before it."""
    return ErasureAudit(ticket_id=request.request_id, user_id=request.user_id, by=by,
                        stores=dict(stores), requested_ts=request.ts,
                        completed_ts=max(now_ms, request.ts))


def missing(audits: Iterable[ErasureAudit], ticket_id: str, expected: Iterable[str]) -> list[str]:
    """Which of the ``expected`` erasers have not yet written a record for ``ticket_id``."""
    done = {a.by for a in audits if a.ticket_id == ticket_id}
    return [b for b in expected if b not in done]
