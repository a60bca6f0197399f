"""Erasure audit record (topic ``erasure-audit.v1``, and the CLI's audit file): the proof that one
erasure request reached one part of the system.

Each place that erases writes its own record for the request: the profile job (its keyed state
and the online store), the feedback job (its per-user caps state), and the privacy command's
``erase`` (the training log and offline store files). Its ``erase --wait`` and ``verify`` read them by ticket id (docs/privacy.md, "Erasure"). The record names the user only by
the pseudonymous id the request named: the audit trail is what shows the erasure happened, so it
has to say for whom; it never holds anything else of the user.
"""
from __future__ import annotations

from typing import Mapping

from udfs.messages.base import Message, spec, ts_spec


class ErasureAudit(Message):
    SCHEMA = "erasure_audit"
    VERSION = 1

    ticket_id: str = spec(max_len=128, doc="the erasure request's request_id (the privacy desk's ticket)")
    user_id: str = spec(max_len=128, doc="the pseudonymous id erased, as the request named it")
    by: str = spec(max_len=64, doc="what erased: a job's name (adstream-profile, adstream-feedback) or "
                                   "the privacy command (adstream-privacy)")
    stores: Mapping[str, int] = spec(max=10_000_000, max_len=64,
                                     doc="store touched -> items removed from it (0: looked, nothing held)")
    requested_ts: int = ts_spec("the request's ts, epoch ms")
    completed_ts: int = ts_spec("when this part of the erasure was done, epoch ms")

    def check(self) -> None:
        if not self.ticket_id:
            raise self.error("ticket_id", "must not be empty")
        if not self.user_id:
            raise self.error("user_id", "must not be empty")
        if not self.stores:
            raise self.error("stores", "must name at least one store")
        if any(n < 0 for n in self.stores.values()):
            raise self.error("stores", "counts must be >= 0")
        if self.completed_ts < self.requested_ts:
            raise self.error("completed_ts", "must not be before requested_ts")
