"""One micro-batch of raw clickstream records → profile updates and dead letters.

The profile job's Python step, without Flink: the adapter hands over the raw
records of one time slice (grouped in the JVM) and a state store; this decodes
and validates each record, routes invalid, late and duplicate ones to dead
letters with a reason, folds the rest into each user's state (one state read and
one write per user per batch, not per event) and returns the users' new profiles.

Consent (``udfs.core.consent``, docs/privacy.md): an event without personalisation consent
is not folded (counted ``no_consent``), and it erases whatever the user's state holds at that
point of their events: the state is dropped and the user is listed in ``erasures``, which the
adapter deletes from the online store before it writes this batch's updates (a later event
of the batch that consents again starts a new profile). ``erased`` counts the users whose
profile was erased so.

No exception escapes for one record's sake (docs/reliability.md): a record whose
decoding raises, or an event whose fold raises, becomes a dead letter of kind
``error`` naming the exception; the user's other events are folded into a copy of
the state as it was before the batch, so a half-applied event never reaches state.
"""
from __future__ import annotations

import collections
import operator
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable, Iterator, MutableMapping, Protocol

from udfs.config.privacy import ConsentPolicy
from udfs.core import consent as C
from udfs.core import profile as P
from udfs.errors import MessageError
from udfs.messages import ClickEvent, DeadLetter
from udfs.messages.bounds import TimeBounds
from udfs.core.record_guard import ERROR, error_letter, null_letter

LATE_FLAG = "L"    # first character of a record the JVM found behind the watermark
ON_TIME_FLAG = "-"
FUTURE_FLAG = "F"  # the JVM found the event time too far ahead of its clock (kept out of the watermark)
NULL_FLAG = "N"    # the JVM's mark of a record without a value (tombstone): nothing to decode
MAX_REVISION = 999  # out-of-order updates per millisecond of event time (see version_us)


class StateStore(Protocol):
    def get(self, user_id: str) -> "UserState | None": ...
    def put(self, user_id: str, state: "UserState") -> None: ...
    def delete(self, user_id: str) -> None: ...


@dataclass
class UserState:
    """A user's profile plus what exactly-once-in-effect needs: seen ids and a revision."""
    profile: P.ProfileState = field(default_factory=P.ProfileState)
    seen: dict[str, int] = field(default_factory=dict)   # event_id -> ts, within the dedupe horizon
    revision: int = 0       # updates since last_event_ts last advanced
    applied: int = 0
    written_ms: int = 0     # processing time of the last write (for the state TTL)

    def version_us(self) -> int:
        """Monotonic version of this profile, in µs of event time (the Feast write timestamp).

        Equals the latest event time while events arrive in order; an out-of-order
        event bumps it by 1 µs so Feast (which keeps only newer writes) takes it.
        """
        return self.profile.last_event_ts * 1000 + min(self.revision, MAX_REVISION)

    def copy(self) -> "UserState":
        """A copy whose containers are new (what a fold may change), the rest shared."""
        fields_ = [v.copy() if type(v) in (list, dict) else v for v in astuple_shallow(self.profile)]
        return UserState(P.ProfileState(*fields_), dict(self.seen), self.revision, self.applied,
                         self.written_ms)


# The profile's fields in declaration order, not copied (``dataclasses.astuple`` deep-copies).
astuple_shallow = operator.attrgetter(*(f.name for f in fields(P.ProfileState)))


STATE_FORMAT = 2   # bump when UserState's or ProfileState's fields change (order included)
# Format 1 is format 2 without ProfileState.search and .keywords (search intent and keywords,
# added last): a checkpoint written before keyword folding is read with both empty, not refused.
_READS = {1: lambda fields: (*fields, {}, {}), 2: lambda fields: fields}


def to_state(st: UserState) -> tuple:
    """A user's state as Flink keeps it: one flat tuple of builtins, tagged with its format.

    Builtins only, so a checkpoint names no module or class of ours: moving or renaming code
    never makes a checkpoint unreadable, and pickling a tuple costs half the bytes and time
    of the dataclass default.
    """
    return (STATE_FORMAT, astuple_shallow(st.profile), st.seen, st.revision, st.applied, st.written_ms)


def from_state(t: tuple) -> UserState:
    if not isinstance(t, tuple) or not t or t[0] not in _READS:
        raise ValueError(f"profile state of an unknown format {t[:1] if isinstance(t, tuple) else type(t)} "
                         f"(this code reads formats {sorted(_READS)})")
    fmt, profile_fields, seen, revision, applied, written_ms = t
    return UserState(P.ProfileState(*_READS[fmt](profile_fields)), seen, revision, applied, written_ms)


@dataclass(frozen=True)
class Update:
    user_id: str
    snapshot: dict
    version_us: int


@dataclass
class BatchResult:
    updates: list[Update] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    counts: collections.Counter = field(default_factory=collections.Counter)
    # users to delete from the online store, before ``updates`` are written: each sent an
    # event without personalisation consent in this batch
    erasures: list[str] = field(default_factory=list)


def process(lines: Iterable[str], store: StateStore, params: P.ProfileParams, *,
            dedupe_horizon_ms: int, now_ms: int, source_topic: str, stage: str,
            fold: Callable[[P.ProfileState, ClickEvent, P.ProfileParams], None] = P.apply,
            bounds: TimeBounds | None = None, policy: ConsentPolicy = ConsentPolicy()) -> BatchResult:
    """Decode, validate, dedupe and fold one batch; ``now_ms`` stamps dead letters and is the
    clock ``bounds`` (the configured event-time window) is checked against; ``policy`` reads an
    absent consent flag (``privacy.consent``; the default: opt-in everywhere).

    ``fold`` is the per-event step (``udfs.core.profile.apply``; tests hand in one that fails).
    """
    res = BatchResult()
    by_user: dict[str, list[tuple[ClickEvent, bool]]] = collections.defaultdict(list)   # (event, consents)

    def dead(payload: str, reason: str, kind: str, fld: str | None = None) -> None:
        res.dead_letters.append(DeadLetter.of(payload, reason, kind, source_topic, now_ms,
                                              stage=stage, field=fld))
        res.counts[kind] += 1

    def failed(payload, exc: Exception, what: str) -> None:
        res.dead_letters.append(error_letter(payload, exc, what, source_topic, now_ms, stage))
        res.counts[ERROR] += 1

    for line in lines:
        try:
            flag, raw = line[:1], line[1:]
            if flag == NULL_FLAG:
                res.dead_letters.append(null_letter(source_topic, now_ms, stage))
                res.counts["invalid"] += 1
                continue
            try:
                ev = ClickEvent.decode(raw, bounds=bounds, now_ms=now_ms)
            except MessageError as e:
                dead(raw, str(e), e.kind, e.field)   # invalid, or future: counted apart
                continue
            if flag == FUTURE_FLAG:
                # Python's clock reads a little later than the JVM's did: trust the JVM's verdict,
                # which is what kept this event out of the watermark.
                dead(raw, f"event time {ev.ts} was more than the allowed skew ahead of the clock "
                          "when the job read it", "future", "ts")
                continue
            if flag == LATE_FLAG:
                dead(raw, f"event time {ev.ts} is behind the watermark by more than the allowed lateness",
                     "late")
                continue
            allowed = C.of_event(ev, policy).personalisation
            if not allowed:
                res.counts["no_consent"] += 1   # not folded; erases the user's profile (_fold_user)
            by_user[ev.user_id].append((ev, allowed))
        except Exception as e:   # whatever this one record does, the others go on
            failed(line[1:] if isinstance(line, str) else line, e, "decode")

    for user_id, events in by_user.items():
        try:
            _fold_user(user_id, events, store, params, dedupe_horizon_ms, fold, res, dead, failed)
        except Exception as e:   # state read/write or snapshot: the user's events, not the batch
            for ev, _ in events:
                failed(_event_text(ev), e, "profile update")
    return res


class _EventFailed(Exception):
    def __init__(self, index: int, cause: Exception):
        self.index, self.cause = index, cause


def _fold_user(user_id, events, store, params, dedupe_horizon_ms, fold, res, dead, failed) -> None:
    """Fold one user's (event, consents) into a copy of their state; an event whose fold raises is
    dead-lettered and the user's fold restarts without it (the copy may be half-changed). An
    event without consent drops the state built so far (stored and of this batch)."""
    base = store.get(user_id)
    skip: dict[int, Exception] = {}
    while True:
        st = base.copy() if base is not None else UserState()
        dups, applied, erased, had = [], 0, False, base is not None
        try:
            # Arrival order, not event-time order: a user's records come from one partition, so a
            # replay after a restart sees them in the same order and reaches the same revision.
            for i, (ev, allowed) in enumerate(events):
                if i in skip:
                    continue
                if not allowed:
                    had = had or st.applied > 0
                    st, erased = UserState(), True   # seen ids too: nothing of the user is kept
                    continue
                if ev.event_id in st.seen:
                    dups.append(ev)
                    continue
                st.seen[ev.event_id] = ev.ts
                before = st.profile.last_event_ts
                try:
                    fold(st.profile, ev, params)   # a ClickEvent has every field EventLike asks for
                except Exception as e:
                    raise _EventFailed(i, e) from e
                st.revision = 0 if st.profile.last_event_ts > before else st.revision + 1
                st.applied += 1
                applied += 1
        except _EventFailed as f:
            skip[f.index] = f.cause
            continue
        break
    for i, e in skip.items():
        failed(_event_text(events[i][0]), e, "fold")
    for ev in dups:
        dead(ev.to_json(), f"duplicate event_id {ev.event_id!r}", "duplicate", "event_id")
    if erased:
        # Deleted from the online store even when no state was held: a profile written before
        # the state expired (Redis keeps it) must not outlive the refusal either.
        res.erasures.append(user_id)
        res.counts["erased"] += had
        if not st.applied:
            if base is not None:
                store.delete(user_id)
            return
    if not applied:
        return
    horizon = st.profile.last_event_ts - dedupe_horizon_ms
    if len(st.seen) > 64:
        st.seen = {k: t for k, t in st.seen.items() if t > horizon}
    update = Update(user_id, P.snapshot(st.profile, params), st.version_us())
    store.put(user_id, st)
    res.updates.append(update)
    res.counts["applied"] += applied


def repair_updates(states: Iterable[tuple[str, UserState]], params: P.ProfileParams) -> Iterator[Update]:
    """The profile each user in ``states`` has now, as the update that would re-write it.

    For the online-store repair (docs/reliability.md): after Redis came back empty, every
    live user's profile is written again from Flink state with the version it was first
    written with, so a store that still holds it (or a newer one) keeps what it has.
    A snapshot depends only on the state, not on the clock: the repair writes exactly
    what the last update wrote.
    """
    for user_id, st in states:
        if st is not None and st.applied:
            yield Update(user_id, P.snapshot(st.profile, params), st.version_us())


def _event_text(ev) -> str:
    try:
        return ev.to_json()
    except Exception:
        return repr(ev)


class DictStore(dict, MutableMapping[str, UserState]):
    """The state store of tests and offline builds: a dict."""

    def put(self, user_id: str, state: UserState) -> None:
        self[user_id] = state

    def delete(self, user_id: str) -> None:
        self.pop(user_id, None)
