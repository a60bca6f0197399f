"""The feedback job's part of an erasure request: the seen stage's per-user caps state.

The job's SQL routes each ``erasure.v1`` record, keyed by its ``user_id``, into the seen stage
(``feedback.seen.v1``, keyed by user id) beside the priced impressions, tagged ``E``; its offsets
are in the job's checkpoints with the other topics'. On a request this drops the user's caps
state, deletes the caps fields from the online hash, and keeps a tombstone (the request's
time, in keyed state, expiring with the caps state): an impression at or before it — read
again after a restart from an older checkpoint — is not counted again, so a replay cannot bring
the caps back. Its audit record is the stage's ``U`` output, written to ``erasure-audit.v1``.
"""
from __future__ import annotations

import logging
import time

from pyflink.common import Row, Types
from pyflink.datastream.state import ValueStateDescriptor

from udfs.core import erasure as E
from udfs.messages import ErasureRequest

ERASURE = "E"   # the tag of an erasure record in the seen stage's input
AUDIT = "U"     # the kind of the stage's audit output rows
log = logging.getLogger("adstream.feedback")


class SeenEraser:
    """Owned by ``SeenFunction``: the tombstone state and the request's handling."""

    def __init__(self, ctx, ttl, writer, job: str):
        desc = ValueStateDescriptor("erased", Types.LONG())
        if ttl is not None:
            desc.enable_time_to_live(ttl)
        self.tombstone = ctx.get_state(desc)
        self.writer, self.job = writer, job

    def suppressed(self, ts: int) -> bool:
        """Whether an impression at ``ts`` is from before the user's erasure (not counted)."""
        erased = self.tombstone.value()
        return erased is not None and ts <= erased

    def erase(self, state, user_id: str, value: str, retry) -> Row:
        """Carry out the request in ``value`` (the tagged record) for ``user_id``; its audit row."""
        req = ErasureRequest.decode(value[2:])
        held = state.value() or {}
        entries = sum(len(v) for v in held.values())
        state.clear()
        self.tombstone.update(max(self.tombstone.value() or 0, req.ts))
        removed = retry(lambda: self.writer.erase([user_id]))
        stores = {E.CAPS_STATE: entries, E.ONLINE_FIELDS: int(removed or 0)}
        log.info("erasure %s done: %s", req.request_id, stores)
        return Row(AUDIT, user_id, E.audit(req, self.job, stores, time.time_ns() // 1_000_000).to_json())
