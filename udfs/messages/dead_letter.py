"""Dead-letter record (topic ``dead-letter.v1``): input that could not be processed, and why.

A dead letter must always be writable: ``to_bounded_json(max_bytes)`` is what the jobs
put on the topic, never more than ``dead_letter.max_bytes`` of UTF-8 however the
payload escapes (a control character costs six bytes as ``\\u0000``, so a 700 KB
payload can become a 4 MB letter, over the broker's message size). Over the cap, the
payload is cut and the letter carries the original's size and SHA-256, so the record
can still be found and compared.

A dead letter keeps the reason and a minimised payload: the value of every direct identifier
(``IDENTIFIERS``: ``"user_id": …`` and the like, wherever it appears in the text, even in a
record that is not JSON) is replaced by ``REMOVED`` before the letter is made, so the
dead-letter topic never holds a user's id (docs/privacy.md). Every job makes its letters here.
"""
from __future__ import annotations

import hashlib
import re

from udfs.messages.base import Message, encode_json, replace, spec, ts_spec
from udfs.messages.bounds import safe_text

# future: an event time too far ahead of the reader's clock (messages.max_future_skew_ms)
# orphan: feedback whose impression (click, served log) did not arrive within feedback.join_wait_s
# unattributed: feedback that does not belong to what it names (another creative, user,
#   campaign, or outside its attribution window): the feedback job's joins (docs/feedback-job.md)
REASONS = ("invalid", "late", "duplicate", "error", "future", "orphan", "unattributed")
MIN_BYTES = 4096   # below this even the reason and envelope may not fit
# Direct identifiers a record may carry (the formats' user_id; what a site may add).
IDENTIFIERS = ("user_id", "ip", "ip_address", "device_id", "email")
REMOVED = "[removed]"
# "name": value, with the value a JSON string (escapes included), a number or a bare word; a
# cut or malformed record is scrubbed as far as it reads
_IDENTIFIER = re.compile(r'("(?:%s)"\s*:\s*)("(?:[^"\\]|\\.)*"?|-?[0-9][0-9.eE+-]*|[A-Za-z]+)'
                         % "|".join(IDENTIFIERS))


def minimised(text: str) -> str:
    """``text`` with the value of every identifier field replaced by ``REMOVED`` (null stays null)."""
    if '"' not in text:
        return text
    return _IDENTIFIER.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == "null" else f'"{REMOVED}"'), text)


class DeadLetter(Message):
    SCHEMA = "dead_letter"
    VERSION = 1

    original: str = spec(max_len=1_000_000, replaced_ok=True,
                         doc="the payload as received, identifiers' values replaced by \"[removed]\" "
                             "(UTF-8; undecodable bytes replaced by U+FFFD); cut to fit dead_letter.max_bytes")
    reason: str = spec(max_len=2048, doc="human-readable: what was wrong")
    kind: str = spec(choices=REASONS, doc="class of the failure, for counting")
    source_topic: str = spec(max_len=256)
    ts: int = ts_spec("when it was dead-lettered, epoch ms")
    stage: str = spec(default="", max_len=128, doc="operator uid that rejected it")
    field: str | None = spec(default=None, max_len=256, doc="offending field, when known")
    original_bytes: int | None = spec(default=None, min=0,
                                      doc="set when `original` was cut: the payload's UTF-8 size")
    original_sha256: str | None = spec(default=None, max_len=64,
                                       doc="set when `original` was cut: SHA-256 (hex) of the payload's UTF-8")

    @classmethod
    def of(cls, payload: bytes | str, reason: str, kind: str, source_topic: str, ts: int,
           stage: str = "", field: str | None = None) -> "DeadLetter":
        """A dead letter for any payload: whatever it holds is made writable, never refused,
        because dead-lettering is how a bad record is survived."""
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, (bytes, bytearray)) else payload
        text = minimised(text)
        # The text quoted from the record may carry what no UTF-8 writer takes (a lone
        # surrogate); the reason and field quote it too. Escaped, so each stays readable.
        if not text.isascii():
            text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
        kw = dict(reason=safe_text(reason)[:2048], kind=kind, source_topic=source_topic, ts=ts, stage=stage,
                  field=None if field is None else safe_text(field)[:256])
        if len(text) > 1_000_000:
            return cls._cut(text, 1_000_000, **kw)
        return cls(original=text, **kw)

    @classmethod
    def _cut(cls, text: str, n: int, **kw) -> "DeadLetter":
        data = _utf8(text)
        return cls(original=text[:n], original_bytes=len(data),
                   original_sha256=hashlib.sha256(data).hexdigest(), **kw)

    def to_bounded_json(self, max_bytes: int) -> str:
        """The wire form, at most ``max_bytes`` of UTF-8: the payload (then the reason) cut to fit."""
        out = self.to_json()
        if len(out.encode("utf-8", "surrogatepass")) <= max_bytes:
            return out
        letter = self
        if letter.original_sha256 is None:   # the size and hash of what was received, not of a cut
            data = _utf8(self.original)
            letter = replace(letter, original_bytes=len(data),
                             original_sha256=hashlib.sha256(data).hexdigest())
        empty = replace(letter, original="", reason="")
        room = max_bytes - _size(empty.to_json())
        reason = _fit(letter.reason, room // 4)      # the reason keeps at most a quarter
        original = _fit(letter.original, room - _escaped(reason))
        return replace(letter, original=original, reason=reason).to_json()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _size(s: str) -> int:
    return len(_utf8(s))


def _escaped(text: str) -> int:
    """UTF-8 bytes of ``text`` inside a JSON string (what to_json writes), quotes excluded."""
    return len(encode_json(text)) - 2


def _fit(text: str, room: int) -> str:
    """The longest prefix of ``text`` whose escaped size is at most ``room`` bytes."""
    if room <= 0:
        return ""
    text = text[:room]   # every character escapes to at least one byte
    if _escaped(text) <= room:
        return text
    lo, hi = 0, len(text)       # invariant: text[:lo] fits, text[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _escaped(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid
    return text[:lo]
