"""The limits a decoded value must fit in, shared by the generic and the compiled decoder.

Every value that crosses into a message is bounded here or in its field's ``spec``:
integers to what a Java ``long`` holds (the JVM reads the same records), a float
field's integer to what a float holds, an event time to what ``datetime`` can
represent, text to what can be written back out as UTF-8. ``TimeBounds`` is the
configured window an event time must fall in, checked against a clock the caller
passes in (decoding itself never reads the time).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from udfs.errors import MessageError

INT_MIN, INT_MAX = -2**63, 2**63 - 1     # a JSON integer the JVM side (Java long) also reads
FLOAT_MAX = sys.float_info.max           # an integer beyond it cannot widen to a float
TS_MAX_MS = 253_402_300_799_999          # 9999-12-31T23:59:59.999Z, the last datetime can show

# A lone surrogate cannot be encoded back to UTF-8 (json.loads accepts "\ud800"); U+FFFD is
# what a lenient reader put where bytes were not UTF-8: the JVM's SimpleStringSchema turns
# bad bytes into it before Python sees the record, so in a field it *is* the "not UTF-8"
# signal. A producer cannot mean it in an id or a code, and rejecting it keeps garbage from
# becoming a profile key or a feature value.
_NOT_UTF8 = re.compile("[\ud800-\udfff\ufffd]")
_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_UTF8 = "not UTF-8"


def clean_text(s: str, replaced_ok: bool = False) -> bool:
    """True when ``s`` is text that came from valid UTF-8 (``replaced_ok``: U+FFFD allowed)."""
    if s.isascii():   # O(1) in CPython: the common case costs no scan
        return True
    return (_SURROGATE if replaced_ok else _NOT_UTF8).search(s) is None


def safe_text(s: str) -> str:
    """``s`` with every character that is not clean UTF-8 text written as an escape (for
    error text and dead letters, which must be writable whatever they quote)."""
    if clean_text(s):
        return s
    return _NOT_UTF8.sub(lambda m: ascii(m.group())[1:-1], s)


def show(value: Any, limit: int = 64) -> str:
    """A value as quoted in an error: ASCII only, never long, never raising."""
    if type(value) is str and len(value) > limit:
        value = value[:limit]          # not a copy of a megabyte to quote 64 characters of it
    try:
        text = ascii(value)
    except ValueError:   # an int past sys.get_int_max_str_digits() cannot be printed
        text = f"<integer of {value.bit_length()} bits>" if type(value) is int else f"<{type(value).__name__}>"
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class TimeBounds:
    """The window a message's ``ts`` must fall in: not before ``min_ts_ms``, and not more than
    ``max_future_skew_ms`` ahead of the reader's clock (``now_ms``, passed by the caller)."""
    min_ts_ms: int
    max_future_skew_ms: int

    @classmethod
    def from_config(cls, messages) -> "TimeBounds":
        """From the ``messages`` section of the typed config (``udfs.config.Messages``)."""
        return cls(messages.min_ts_ms, messages.max_future_skew_ms)

    def check(self, msg: Any, now_ms: int) -> None:
        ts = getattr(msg, "ts", None)
        if type(ts) is not int:
            return
        if ts < self.min_ts_ms:
            raise MessageError(msg.SCHEMA, "ts", f"event time {ts} is before {self.min_ts_ms} "
                                                 f"(messages.min_ts_ms)")
        if ts - now_ms > self.max_future_skew_ms:
            raise MessageError(msg.SCHEMA, "ts", f"future: event time {ts} is {ts - now_ms} ms ahead of "
                                                 f"now, more than {self.max_future_skew_ms} "
                                                 f"(messages.max_future_skew_ms)", kind="future")
