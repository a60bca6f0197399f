"""Dead-letter record (topic ``dead-letter.v1``): input that could not be processed, and why."""
from __future__ import annotations

from dataclasses import dataclass

from udfs.messages.base import Message, spec

REASONS = ("invalid", "late", "duplicate", "error")


@dataclass(frozen=True, kw_only=True)
class DeadLetter(Message):
    SCHEMA = "dead_letter"
    VERSION = 1

    original: str = spec(max_len=1_000_000, doc="the payload as received (UTF-8; undecodable bytes replaced)")
    reason: str = spec(max_len=2048, doc="human-readable: what was wrong")
    kind: str = spec(choices=REASONS, doc="class of the failure, for counting")
    source_topic: str = spec(max_len=256)
    ts: int = spec(min=0, doc="when it was dead-lettered, epoch ms")
    stage: str = spec(default="", max_len=128, doc="operator uid that rejected it")
    field: str | None = spec(default=None, max_len=256, doc="offending field, when known")

    @classmethod
    def of(cls, payload: bytes | str, reason: str, kind: str, source_topic: str, ts: int,
           stage: str = "", field: str | None = None) -> "DeadLetter":
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, (bytes, bytearray)) else payload
        return cls(original=text[:1_000_000], reason=reason[:2048], kind=kind,
                   source_topic=source_topic, ts=ts, stage=stage, field=field)
