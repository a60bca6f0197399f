"""Erasure request (topic ``erasure.v1``): forget a user everywhere, and prove it.

The format is fixed and validated; no job consumes it yet (planned: the privacy
work), so publishing one erases nothing today.
"""
from __future__ import annotations


from udfs.messages.base import Message, spec, ts_spec


class ErasureRequest(Message):
    SCHEMA = "erasure"
    VERSION = 1

    request_id: str = spec(max_len=128, doc="the privacy desk's ticket id; echoed in the audit record")
    user_id: str = spec(max_len=128, doc="pseudonymous id to erase")
    ts: int = ts_spec()
    requested_by: str = spec(max_len=128)
    reason: str = spec(default="user_request", choices=("user_request", "consent_withdrawn", "legal"))

    def check(self) -> None:
        if not self.user_id:
            raise self.error("user_id", "must not be empty")
