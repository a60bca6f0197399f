"""The feedback job's first join: an impression meets the served-log entry it was shown from.

Keyed by request id. State per request: the answer's ads (what each would cost, from the
served log: prices are never taken from the ad server's events), the impression ids
already counted, and impressions that arrived before their served log. An impression
joins by (request id, creative id) and becomes

- an :class:`~udfs.core.attributed.Attributed` impression (charged when its bid type is
  CPM), for the statistics stage, and
- a :class:`Priced` impression for the second join (clicks and conversions,
  ``udfs.core.attribution``), keyed by impression id.

What cannot be attributed is rejected with a reason (the adapter dead-letters it):
a repeated impression id or served log (``duplicate``), an impression of a creative the
answer did not offer, of another user or campaign, or shown outside
``feedback.impression_window_s`` after the answer (``unattributed``), and an impression
whose served log has not arrived ``feedback.join_wait_s`` of event time after it
(``orphan``). Event time is the watermark the adapter passes in; ``expire`` is what the
adapter's event-time timer calls at ``RequestState.wake()``.

Pure: decoded messages in, records out; the state is a plain object the adapter keeps in
Flink keyed state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from udfs.core.attributed import IMPRESSION, Attributed
from udfs.messages.feedback import Impression
from udfs.messages.served import CHARGED_ON, ServedLog

DUPLICATE, UNATTRIBUTED, ORPHAN = "duplicate", "unattributed", "orphan"


class Priced(msgspec.Struct, frozen=True, array_like=True):
    """An attributed impression with what its later events cost: the second join's input."""
    impression_id: str
    request_id: str
    user_id: str | None
    ts: int
    campaign_id: str
    creative_id: str
    bid_type: str
    charge: float          # what one event of ``CHARGED_ON[bid_type]`` costs (the served charge)
    model_version: str
    variant: str
    # What the training log needs from the served log (defaults: a Priced of before them).
    rank: int = 0
    pctr: float = 0.0
    feature_set: str = ""
    features: tuple[float, ...] = ()
    # The request's consent decision (served log v2; a Priced of before them: true, as then).
    personalised: bool = True
    measured: bool = True

    def encode(self) -> str:
        return _ENC.encode(self).decode()

    @staticmethod
    def decode(s: str | bytes) -> "Priced":
        return _PRICED.decode(s)


_ENC = msgspec.json.Encoder()
_PRICED = msgspec.json.Decoder(Priced)


@dataclass(frozen=True)
class Rejected:
    """A record that is not counted: its reason kind (a ``DeadLetter.kind``), why, and the
    record as received, so the adapter can dead-letter it."""
    kind: str
    reason: str
    raw: str
    field: str | None = None
    record: str = ""      # what the record is (impression, click, conversion) when the caller cannot tell


@dataclass
class Outputs:
    attributed: list[Attributed] = field(default_factory=list)
    priced: list[Priced] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    training: list = field(default_factory=list)   # TrainingRow (udfs.core.attribution)


@dataclass
class RequestState:
    served_ts: int | None = None
    user_id: str | None = None
    model_version: str = ""
    variant: str = ""
    ads: dict = field(default_factory=dict)       # creative_id -> (campaign_id, bid_type, charge,
                                                  #                 rank, pctr, features)
    feature_set: str = ""
    personalised: bool = True                     # the served log's consent decision; a state
    measured: bool = True                         # pickled before them has neither: getattr
    seen: set = field(default_factory=set)        # impression ids counted
    waiting: list = field(default_factory=list)   # (ts, impression_id, raw): before their served log

    def wake(self, w: "Windows") -> int | None:
        """The event time this state next needs ``expire`` at; None once it can be dropped."""
        times = [ts + w.join_wait_ms for ts, _, _ in self.waiting]
        if self.served_ts is not None:
            times.append(self.served_ts + w.impression_window_ms + w.lateness_ms)
        return min(times) if times else None


@dataclass(frozen=True)
class Windows:
    impression_window_ms: int
    join_wait_ms: int
    lateness_ms: int

    @classmethod
    def from_config(cls, cfg) -> "Windows":
        f = cfg.feedback
        return cls(f.impression_window_s * 1000, f.join_wait_s * 1000, f.allowed_lateness_ms)


def on_served(st: RequestState, log: ServedLog, raw: str, out: Outputs, w: Windows) -> None:
    """A served-log entry arrives: keep its ads' terms, then join the impressions that waited."""
    if st.served_ts is not None:
        out.rejected.append(Rejected(DUPLICATE, f"served log of request {log.request_id} repeated "
                                                f"(the first one is kept)", raw))
        return
    st.served_ts, st.user_id = log.ts, log.user_id
    st.model_version, st.variant = log.model_version, log.variant
    st.ads = {a.creative_id: (a.campaign_id, a.bid_type, a.charge, a.rank, a.pctr, a.features)
              for a in log.ads}
    st.feature_set = log.feature_set
    st.personalised, st.measured = log.personalised, log.measured
    waiting, st.waiting = st.waiting, []
    for _, _, imp_raw in waiting:
        _join(st, Impression.decode(imp_raw), imp_raw, out, w)


def on_impression(st: RequestState, imp: Impression, raw: str, out: Outputs, w: Windows) -> None:
    if st.served_ts is None:
        if any(i == imp.impression_id for _, i, _ in st.waiting):
            out.rejected.append(Rejected(DUPLICATE, f"impression {imp.impression_id} repeated", raw,
                                         "impression_id"))
        else:
            st.waiting.append((imp.ts, imp.impression_id, raw))
        return
    _join(st, imp, raw, out, w)


def _join(st: RequestState, imp: Impression, raw: str, out: Outputs, w: Windows) -> None:
    if imp.impression_id in st.seen:
        out.rejected.append(Rejected(DUPLICATE, f"impression {imp.impression_id} repeated", raw,
                                     "impression_id"))
        return
    why = _mismatch(st, imp, w)
    if why is not None:
        out.rejected.append(Rejected(UNATTRIBUTED, why[1], raw, why[0]))
        return
    st.seen.add(imp.impression_id)
    campaign_id, bid_type, charge, *served = st.ads[imp.creative_id]   # a state of before: 3 terms
    rank, pctr, features = served or (0, 0.0, ())
    out.priced.append(Priced(imp.impression_id, imp.request_id, imp.user_id, imp.ts, campaign_id,
                             imp.creative_id, bid_type, charge, st.model_version, st.variant,
                             rank, pctr, st.feature_set if features else "", features,
                             getattr(st, "personalised", True), getattr(st, "measured", True)))
    out.attributed.append(Attributed(IMPRESSION, imp.impression_id, imp.ts, campaign_id, imp.creative_id,
                                     bid_type, charge if CHARGED_ON[bid_type] == IMPRESSION else 0.0))


def _mismatch(st: RequestState, imp: Impression, w: Windows) -> tuple[str, str] | None:
    """(field, why) when the impression does not belong to this answer; None when it does."""
    rid = imp.request_id
    ad = st.ads.get(imp.creative_id)
    if ad is None:
        return "creative_id", f"creative {imp.creative_id} was not offered in the answer to request {rid}"
    if ad[0] != imp.campaign_id:
        return "campaign_id", (f"creative {imp.creative_id} belongs to campaign {ad[0]} in the answer to "
                               f"request {rid}, not {imp.campaign_id}")
    if imp.user_id != st.user_id:
        return "user_id", f"the answer to request {rid} was for another user"
    dt = imp.ts - st.served_ts
    if dt < -w.join_wait_ms or dt > w.impression_window_ms:
        return "ts", (f"shown {dt / 1000:.1f} s after the answer to request {rid}: outside "
                      f"[-{w.join_wait_ms // 1000}, {w.impression_window_ms // 1000}] s "
                      f"(feedback.join_wait_s, feedback.impression_window_s)")
    return None


def expire(st: RequestState, watermark: int, out: Outputs, w: Windows) -> bool:
    """Event time reached ``watermark``: impressions that waited too long for their served
    log become orphans. Returns True when the state is done (the adapter clears it)."""
    keep = []
    for ts, iid, raw in st.waiting:
        if ts + w.join_wait_ms <= watermark:
            out.rejected.append(Rejected(ORPHAN, f"no served log for this impression's request within "
                                                 f"{w.join_wait_ms // 1000} s of event time "
                                                 f"(feedback.join_wait_s)", raw, "request_id", IMPRESSION))
        else:
            keep.append((ts, iid, raw))
    st.waiting = keep
    return not keep and (st.served_ts is None
                         or st.served_ts + w.impression_window_ms + w.lateness_ms <= watermark)


def late(ts: int, watermark: int, lateness_ms: int) -> str | None:
    """Why an event at ``ts`` is too late to count, or None. Every join's state lives until its
    window plus the lateness has passed, so an event that is not late always meets the
    state that remembers whether it was counted: a replay is a duplicate or late, never
    counted twice."""
    if ts < watermark - lateness_ms:
        return (f"event time {ts} is {(watermark - ts) / 1000:.1f} s behind the watermark, more than "
                f"{lateness_ms / 1000:.1f} s (feedback.allowed_lateness_ms)")
    return None
