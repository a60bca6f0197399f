"""The feedback job's part of an erasure request: the seen stage's caps state of the user.

The job's SQL routes each ``erasure.v1`` record into the seen stage's slices (``feedback.seen.v2``,
keyed by a fixed shard of the user id) by the same shard of its ``user_id``, as a line tagged
``E``; its offsets are in the job's checkpoints with the other topics'. On a request this drops
the user's caps state, deletes the caps fields from the online hash, and keeps a tombstone
(the request's time, a MapState user → ts beside the caps state, expiring with it): an
impression at or before it — read again after a restart from an older checkpoint — is not
counted again, so a replay cannot bring the caps back. Its audit record is the stage's ``U``
output, written to ``erasure-audit.v1``.
"""
from __future__ import annotations

import logging
import time

from pyflink.common import Row, Types
from pyflink.datastream.state import MapStateDescriptor

from udfs.core import erasure as E
from udfs.messages import ErasureRequest

ERASURE = "E"   # the tag of an erasure request's line in the seen stage's slices
AUDIT = "U"     # the kind of the stage's audit output rows
log = logging.getLogger("adstream.feedback")


class SeenEraser:
    """Owned by the seen stage (udfs/flink/feedback_slices.py): the tombstones and the requests."""

    def __init__(self, ctx, ttl, writer, job: str):
        desc = MapStateDescriptor("erased", Types.STRING(), Types.LONG())
        if ttl is not None:
            desc.enable_time_to_live(ttl)
        self.tombstones = ctx.get_map_state(desc)
        self.writer, self.job = writer, job

    def suppressed(self, user_id: str, ts: int) -> bool:
        """Whether an impression of ``user_id`` at ``ts`` is from before the user's erasure."""
        erased = self.tombstones.get(user_id)
        return erased is not None and ts <= erased

    def erase(self, line: str, changed: dict, state) -> tuple:
        """Carry out the state's part of the request in ``line`` (``E`` + the request) at once:
        drop the user's caps state (from the slice's ``changed`` users, else the state) and keep
        the tombstone, so the slice's later lines already see it. Returns what ``finish`` needs."""
        req = ErasureRequest.decode(line[len(ERASURE):])
        user_id = req.user_id
        held = changed.pop(user_id, (None, 0))[0]
        held = held if held is not None else (state.get(user_id) or {})
        state.remove(user_id)
        self.tombstones.put(user_id, max(self.tombstones.get(user_id) or 0, req.ts))
        return req, sum(len(v) for v in held.values())

    def finish(self, done: list, retry) -> list:
        """The online part of the slice's requests (``erase``'s results), before the slice's own
        writes: the caps fields deleted, through ``retry`` — a store failure fails the task
        (restart, the request read again), never the request. Returns the audit rows."""
        rows = []
        for req, entries in done:
            removed = retry(lambda: self.writer.erase([req.user_id]))
            stores = {E.CAPS_STATE: entries, E.ONLINE_FIELDS: int(removed or 0)}
            log.info("erasure %s done: %s", req.request_id, stores)
            rows.append(Row(AUDIT, req.user_id, E.audit(req, self.job, stores, time.time_ns() // 1_000_000).to_json()))
        return rows
