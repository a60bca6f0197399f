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

Erasure requests (``erasure.v1``, docs/privacy.md "Erasure") arrive in the same slices as the
user's events, flagged ``E`` by the job's SQL: the request drops the user's state as a
withdrawal does, lists the user in ``erasures`` and in ``requests`` (for the audit record), and
leaves a tombstone — a state without a profile holding the request's time — so that any event of
the user at or before that time, read again after a restart from an older checkpoint or
arriving late, is not folded (counted ``suppressed``): a replay cannot bring the profile back.
A user's requests in a batch are applied before their events, whatever the arrival order
between the two topics, so a replay reaches the same state. The tombstone expires with the
state TTL, as any state does.

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
from udfs.messages import ClickEvent, DeadLetter, ErasureRequest
from udfs.messages.bounds import TimeBounds
from udfs.core.record_guard import ERROR, error_letter, null_letter

LATE_FLAG = "L"    # first character of a record the JVM found behind the watermark
ON_TIME_FLAG = "-"
FUTURE_FLAG = "F"  # the JVM found the event time too far ahead of its clock (kept out of the watermark)
NULL_FLAG = "N"    # the JVM's mark of a record without a value (tombstone): nothing to decode
ERASURE_FLAG = "E"  # a record of the erasure topic (an ErasureRequest), not a click
ERASE = "erase"     # the mode of an erasure request in a user's list (events: True/False = consents)
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
    erased_ts: int = 0      # the latest erasure request's ts: events at or before it are not folded

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
                         self.written_ms, self.erased_ts)


# The profile's fields in declaration order, not copied (``dataclasses.astuple`` deep-copies).
astuple_shallow = operator.attrgetter(*(f.name for f in fields(P.ProfileState)))


STATE_FORMAT = 3   # bump when UserState's or ProfileState's fields change (order included)
# Format 1: no ProfileState.search and .keywords (search intent and keywords) and no erased_ts;
# format 2 (keyword folding): no erased_ts (erasure requests). Both are still read — empty search
# state, no tombstone — so a checkpoint of before either restores, not refused.
_READS = {1: lambda fields: (*fields, {}, {}), 2: lambda fields: fields, 3: lambda fields: fields}


def to_state(st: UserState) -> tuple:
    """A user's state as Flink keeps it: one flat tuple of builtins, tagged with its format.

    Builtins only, so a checkpoint names no module or class of ours: moving or renaming code
    never makes a checkpoint unreadable, and pickling a tuple costs half the bytes and time
    of the dataclass default.
    """
    return (STATE_FORMAT, astuple_shallow(st.profile), st.seen, st.revision, st.applied, st.written_ms,
            st.erased_ts)


def from_state(t: tuple) -> UserState:
    if not isinstance(t, tuple) or not t or t[0] not in _READS:
        raise ValueError(f"profile state of an unknown format {t[:1] if isinstance(t, tuple) else type(t)} "
                         f"(this code reads formats {sorted(_READS)})")
    fmt, profile_fields, seen, revision, applied, written_ms, *rest = t
    return UserState(P.ProfileState(*_READS[fmt](profile_fields)), seen, revision, applied, written_ms, *rest)


@dataclass(frozen=True)
class Update:
    user_id: str
    snapshot: dict
    version_us: int


@dataclass(frozen=True)
class Erased:
    """One erasure request as this batch carried it out, for its audit record."""
    request: ErasureRequest
    profiles: int       # 1 when the user had a profile in state (0: nothing held)
    dedupe_ids: int     # event ids the state kept for de-duplication, dropped with it


@dataclass
class BatchResult:
    updates: list[Update] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    counts: collections.Counter = field(default_factory=collections.Counter)
    # users to delete from the online store, before ``updates`` are written: each sent an
    # event without personalisation consent in this batch
    erasures: list[str] = field(default_factory=list)
    # the erasure requests of this batch (each also in ``erasures``), in arrival order
    requests: list[Erased] = field(default_factory=list)


def process(lines: Iterable[str], store: StateStore, params: P.ProfileParams, *,
            dedupe_horizon_ms: int, now_ms: int, source_topic: str, stage: str,
            fold: Callable[[P.ProfileState, ClickEvent, P.ProfileParams], None] = P.apply,
            bounds: TimeBounds | None = None, policy: ConsentPolicy = ConsentPolicy()) -> BatchResult:
    """Decode, validate, dedupe and fold one batch; ``now_ms`` stamps dead letters and is the
    clock ``bounds`` (the configured event-time window) is checked against; ``policy`` reads an
    absent consent flag (``privacy.consent``; the default: opt-in everywhere); ``fold`` is the
    per-event step (``udfs.core.profile.apply``; tests hand in one that fails).
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
            if flag == ERASURE_FLAG:
                _request(raw, by_user, res, dead)
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


def _request(raw: str, by_user, res: BatchResult, dead) -> None:
    """An erasure line: the request into its user's list, or a dead letter when it is invalid."""
    try:
        req = ErasureRequest.decode(raw)
    except MessageError as e:
        dead(raw, f"erasure request: {e}", "invalid", e.field)
        return
    res.counts["erasure_requests"] += 1
    by_user[req.user_id].append((req, ERASE))


class _EventFailed(Exception):
    def __init__(self, index: int, cause: Exception):
        self.index, self.cause = index, cause


@dataclass
class _Fold:
    """What one pass over a user's events left: the state and what to report of it."""
    st: UserState
    dups: list = field(default_factory=list)
    applied: int = 0
    erased: bool = False
    had: bool = False
    requests: list = field(default_factory=list)   # Erased, one per request
    suppressed: int = 0


def _fold_user(user_id, events, store, params, dedupe_horizon_ms, fold, res, dead, failed) -> None:
    """Fold one user's (event, consents) into a copy of their state; an event whose fold raises is
    dead-lettered and the user's fold restarts without it (the copy may be half-changed). An
    event without consent, or an erasure request, drops the state built so far (stored and of
    this batch); a request also leaves its tombstone (``erased_ts``)."""
    # requests first (stable): the same state whichever topic a replay happens to read first
    events.sort(key=lambda e: e[1] != ERASE)
    base = store.get(user_id)
    skip: dict[int, Exception] = {}
    while True:
        try:
            f = _fold_pass(base, events, skip, params, fold)
        except _EventFailed as x:
            skip[x.index] = x.cause
            continue
        break
    st = f.st
    for i, e in skip.items():
        failed(_event_text(events[i][0]), e, "fold")
    for ev in f.dups:
        dead(ev.to_json(), f"duplicate event_id {ev.event_id!r}", "duplicate", "event_id")
    res.requests += f.requests
    if f.suppressed:
        res.counts["suppressed"] += f.suppressed
    if f.erased:
        # Deleted from the online store even when no state was held: a profile written before
        # the state expired (Redis keeps it) must not outlive the refusal either.
        res.erasures.append(user_id)
        res.counts["erased"] += f.had
        if not st.applied:
            if st.erased_ts:
                store.put(user_id, st)    # the tombstone: no profile, the request's time
            elif base is not None:
                store.delete(user_id)
            return
    if not f.applied:
        return
    horizon = st.profile.last_event_ts - dedupe_horizon_ms
    if len(st.seen) > 64:
        st.seen = {k: t for k, t in st.seen.items() if t > horizon}
    update = Update(user_id, P.snapshot(st.profile, params), st.version_us())
    store.put(user_id, st)
    res.updates.append(update)
    res.counts["applied"] += f.applied


def _fold_pass(base, events, skip, params, fold) -> _Fold:
    """One pass over the user's events (requests first, then arrival order: a user's records come
    from one partition of each topic, so a replay reaches the same revision)."""
    f = _Fold(base.copy() if base is not None else UserState(),
              had=base is not None and base.applied > 0)
    for i, (ev, mode) in enumerate(events):
        if i in skip:
            continue
        st = f.st
        if mode == ERASE:
            f.requests.append(Erased(ev, int(st.applied > 0), len(st.seen)))
            f.had = f.had or st.applied > 0
            f.st, f.erased = UserState(erased_ts=max(st.erased_ts, ev.ts)), True
            continue
        if not mode:
            f.had = f.had or st.applied > 0
            f.st, f.erased = UserState(erased_ts=st.erased_ts), True   # seen ids too: nothing is kept
            continue
        if ev.ts <= st.erased_ts:
            f.suppressed += 1    # from before the user's erasure: never folded again
            continue
        if ev.event_id in st.seen:
            f.dups.append(ev)
            continue
        st.seen[ev.event_id] = ev.ts
        before = st.profile.last_event_ts
        try:
            fold(st.profile, ev, params)   # a ClickEvent has every field EventLike asks for
        except Exception as e:
            raise _EventFailed(i, e) from e
        st.revision = 0 if st.profile.last_event_ts > before else st.revision + 1
        st.applied += 1
        f.applied += 1
    return f


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
