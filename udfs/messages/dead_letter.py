"""Dead-letter record (topic ``dead-letter.v1``): input that could not be processed, and why."""
from __future__ import annotations

from dataclasses import dataclass

from udfs.messages.base import Message, spec, ts_spec
from udfs.messages.bounds import safe_text

# future: an event time too far ahead of the reader's clock (messages.max_future_skew_ms)
REASONS = ("invalid", "late", "duplicate", "error", "future")


@dataclass(frozen=True, kw_only=True)
class DeadLetter(Message):
    SCHEMA = "dead_letter"
    VERSION = 1

    original: str = spec(max_len=1_000_000, replaced_ok=True,
                         doc="the payload as received (UTF-8; undecodable bytes replaced by U+FFFD)")
    reason: str = spec(max_len=2048, doc="human-readable: what was wrong")
    kind: str = spec(choices=REASONS, doc="class of the failure, for counting")
    source_topic: str = spec(max_len=256)
    ts: int = ts_spec("when it was dead-lettered, epoch ms")
    stage: str = spec(default="", max_len=128, doc="operator uid that rejected it")
    field: str | None = spec(default=None, max_len=256, doc="offending field, when known")

    @classmethod
    def of(cls, payload: bytes | str, reason: str, kind: str, source_topic: str, ts: int,
           stage: str = "", field: str | None = None) -> "DeadLetter":
        """A dead letter for any payload: whatever it holds is made writable, never refused,
        because dead-lettering is how a bad record is survived."""
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, (bytes, bytearray)) else payload
        # The text quoted from the record may carry what no UTF-8 writer takes (a lone
        # surrogate); the reason and field quote it too. Escaped, so each stays readable.
        if not text.isascii():
            text = text[:1_000_000].encode("utf-8", errors="backslashreplace").decode("utf-8")
        return cls(original=text[:1_000_000], reason=safe_text(reason)[:2048], kind=kind,
                   source_topic=source_topic, ts=ts, stage=stage,
                   field=None if field is None else safe_text(field)[:256])
