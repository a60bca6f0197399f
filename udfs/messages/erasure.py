"""Erasure request (topic ``erasure.v1``): forget a user everywhere, and prove it.

Published by ``adstream privacy erase`` (or the privacy desk's own tool); the profile, feedback
and scoring jobs consume it (their offsets in their checkpoints), each drops what it holds of the
user and writes an ``ErasureAudit`` record (docs/privacy.md, "Erasure").
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
