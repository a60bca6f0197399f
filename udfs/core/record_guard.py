"""What a job does with a record it could not handle: a dead letter, never a failed task.

A failed task restarts from a checkpoint that replays the same record, so one bad
record would stop a job for good. The Flink adapters therefore end every exception
raised while handling one record (decode, fold, score, encode) here, as a bounded
dead letter whose reason names the exception class; only failures of the job's own
infrastructure (state backend, feature-store writes) are left to Flink's restart
strategy. See docs/reliability.md.
"""
from __future__ import annotations

from udfs.messages import DeadLetter

ERROR = "error"                # DeadLetter.kind of an exception (not a rule the record broke)
NULL_FIELD = "<value>"         # DeadLetter.field of a record without a value (tombstone)
NULL_REASON = "record has no value (null / tombstone)"
MAX_REASON = 512               # characters: a reason is for reading, the payload is in the letter


def describe(exc: BaseException) -> str:
    """``ExceptionClass: message``, short enough for a reason or a log line."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:   # an exception whose message itself raises
        text = f"{type(exc).__name__}: <unprintable message>"
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def error_letter(payload, exc: BaseException, what: str, source_topic: str, ts: int,
                 stage: str) -> DeadLetter:
    """The dead letter of a record whose handling raised ``exc`` during ``what``."""
    return DeadLetter.of(_text(payload), f"{what} failed: {describe(exc)}", ERROR, source_topic, ts,
                         stage=stage)


def null_letter(source_topic: str, ts: int, stage: str) -> DeadLetter:
    """The dead letter of a record that has no value at all."""
    return DeadLetter.of("", NULL_REASON, "invalid", source_topic, ts, stage=stage, field=NULL_FIELD)


def _text(payload) -> str:
    """Any payload as text for a dead letter (a str, bytes, or whatever reached the step)."""
    if payload is None:
        return ""
    if isinstance(payload, (bytes, bytearray)):
        return payload.decode("utf-8", "replace")
    if isinstance(payload, str):
        return payload
    try:
        return repr(payload)
    except Exception as e:   # a payload whose repr raises is still a dead letter
        return f"<unprintable {type(payload).__name__}: {describe(e)}>"
