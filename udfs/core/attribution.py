"""The feedback job's second join: clicks and conversions meet the impression they follow.

Keyed by impression id. Input: the :class:`~udfs.core.pricing.Priced` impressions of the
first join, the ad server's clicks and its conversions. Rules (docs/feedback-job.md):

- A click counts when it follows its impression within ``model.click_window_s`` (the
  window training labels use: one owner) and names the same request, user and campaign.
  One click per impression is counted and charged (a CPC bid); another click id on the
  same impression is rejected as a ``duplicate`` — the label is "clicked", and a burst
  of clicks on one impression is the classic invalid-click pattern.
- A conversion counts within ``model.conversion_window_s`` of its impression: through
  its click when it names one (that click must have been counted), as a view-through
  when it names none. Every distinct conversion id counts (a user may order twice).
  CPA and oCPA bids are charged per conversion.
- A repeated event id is a ``duplicate``; a click or conversion whose impression (or
  click) has not arrived ``feedback.join_wait_s`` of event time after it is an
  ``orphan``; one that does not belong to its impression is ``unattributed``.
- The training log: when the click window has closed (``model.click_window_s`` +
  ``feedback.allowed_lateness_ms`` of event time after the impression) the impression's
  :class:`~udfs.messages.training_log.TrainingRow` is written with the labels known then
  (revision 0); every label attributed after that writes it again, revision + 1.

Pure, like ``udfs.core.pricing``, whose ``Rejected``/``Outputs`` it shares.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from udfs.core.attributed import CLICK, CONVERSION, Attributed
from udfs.core.pricing import DUPLICATE, ORPHAN, UNATTRIBUTED, Outputs, Priced, Rejected
from udfs.errors import MessageError
from udfs.messages.feedback import AdClick, Conversion
from udfs.messages.served import CHARGED_ON
from udfs.messages.training_log import TrainingRow


@dataclass(frozen=True)
class Windows:
    click_window_ms: int
    conversion_window_ms: int
    join_wait_ms: int
    lateness_ms: int

    @classmethod
    def from_config(cls, cfg) -> "Windows":
        return cls(cfg.model.click_window_s * 1000, cfg.model.conversion_window_s * 1000,
                   cfg.feedback.join_wait_s * 1000, cfg.feedback.allowed_lateness_ms)

    @property
    def longest_ms(self) -> int:
        return max(self.click_window_ms, self.conversion_window_ms)

    @property
    def label_ms(self) -> int:
        """After the impression, when its click label is final: its training row is written."""
        return self.click_window_ms + self.lateness_ms


@dataclass
class ImpressionState:
    imp: Priced | None = None
    click: tuple | None = None                      # (click_id, ts) of the counted click
    seen: set = field(default_factory=set)          # click and conversion ids already handled
    waiting: list = field(default_factory=list)     # (ts, kind, event_id, raw) before their impression/click
    # The training log (defaults as class attributes: a state restored from before them reads these)
    conversions: int = 0                            # conversions attributed
    value: float = 0.0                              # their order value
    logged: int = -1                                # revision of the last training row written
    logged_ts: int = 0                              # its labelled_ts

    def wake(self, w: Windows) -> int | None:
        times = [ts + w.join_wait_ms for ts, _, _, _ in self.waiting]
        if self.imp is not None:
            times.append(self.imp.ts + w.longest_ms + w.lateness_ms)
            if self.logged < 0:
                times.append(self.imp.ts + w.label_ms)
        return min(times) if times else None


def on_priced(st: ImpressionState, p: Priced, out: Outputs, w: Windows) -> None:
    if st.imp is not None:   # the first join counts an impression id once; a repeat is a bug upstream
        out.rejected.append(Rejected(DUPLICATE, f"impression {p.impression_id} priced twice", p.encode()))
        return
    st.imp = p
    _retry(st, out, w)


def _retry(st: ImpressionState, out: Outputs, w: Windows) -> None:
    """Clicks first, then conversions: a conversion may have waited for a click that waited too."""
    waiting, st.waiting = st.waiting, []
    for _, kind, _, raw in sorted(waiting, key=lambda x: x[1] != CLICK):
        if kind == CLICK:
            on_click(st, AdClick.decode(raw), raw, out, w)
        else:
            on_conversion(st, Conversion.decode(raw), raw, out, w)


def _wait(st: ImpressionState, ts: int, kind: str, event_id: str, raw: str, out: Outputs) -> None:
    if any(e == event_id for _, _, e, _ in st.waiting):
        out.rejected.append(Rejected(DUPLICATE, f"{kind} {event_id} repeated", raw))
    else:
        st.waiting.append((ts, kind, event_id, raw))


def on_click(st: ImpressionState, c: AdClick, raw: str, out: Outputs, w: Windows) -> None:
    if st.imp is None:
        _wait(st, c.ts, CLICK, c.click_id, raw, out)
        return
    imp = st.imp
    if c.click_id in st.seen:
        out.rejected.append(Rejected(DUPLICATE, f"click {c.click_id} repeated", raw, "click_id"))
        return
    why = _belongs(imp, c.request_id, c.user_id, c.campaign_id, c.ts, w.click_window_ms, w)
    st.seen.add(c.click_id)
    if why is not None:
        out.rejected.append(Rejected(UNATTRIBUTED, why[1], raw, why[0]))
        return
    if st.click is not None:
        out.rejected.append(Rejected(DUPLICATE, f"a second click on impression {imp.impression_id} "
                                                f"(counted: {st.click[0]}): one click per impression counts",
                                     raw, "click_id"))
        return
    st.click = (c.click_id, c.ts)
    out.attributed.append(Attributed(CLICK, c.click_id, c.ts, imp.campaign_id, imp.creative_id, imp.bid_type,
                                     imp.charge if CHARGED_ON[imp.bid_type] == CLICK else 0.0))
    if st.logged >= 0:
        _log(st, c.ts, out)
    if any(k == CONVERSION for _, k, _, _ in st.waiting):
        _retry(st, out, w)


def on_conversion(st: ImpressionState, v: Conversion, raw: str, out: Outputs, w: Windows) -> None:
    if st.imp is None or (v.click_id is not None and v.click_id not in st.seen):
        _wait(st, v.ts, CONVERSION, v.conversion_id, raw, out)   # its impression, or its click, is due
        return
    imp = st.imp
    if v.conversion_id in st.seen:
        out.rejected.append(Rejected(DUPLICATE, f"conversion {v.conversion_id} repeated", raw, "conversion_id"))
        return
    why = _belongs(imp, None, v.user_id, v.campaign_id, v.ts, w.conversion_window_ms, w)
    if why is None and v.click_id is not None and (st.click is None or st.click[0] != v.click_id):
        why = ("click_id", f"its click {v.click_id} was not counted for impression {imp.impression_id}")
    st.seen.add(v.conversion_id)
    if why is not None:
        out.rejected.append(Rejected(UNATTRIBUTED, why[1], raw, why[0]))
        return
    out.attributed.append(Attributed(CONVERSION, v.conversion_id, v.ts, imp.campaign_id, imp.creative_id,
                                     imp.bid_type,
                                     imp.charge if CHARGED_ON[imp.bid_type] == CONVERSION else 0.0,
                                     value=v.value, view_through=v.click_id is None))
    st.conversions += 1
    st.value += v.value
    if st.logged >= 0:
        _log(st, v.ts, out)


def _log(st: ImpressionState, ts: int, out: Outputs) -> None:
    """Write the impression's training row, the next revision, with the labels as of now.

    A row that cannot be built (a Priced from a state of before the training log carries no
    position) is rejected with its reason; the impression's statistics are not touched."""
    imp, revision = st.imp, st.logged + 1
    labelled = ts if revision == 0 else max(ts, st.logged_ts + 1)   # increases with the revision
    st.logged, st.logged_ts = revision, labelled
    try:
        # Without measurement consent the row keeps no user id; its labels and charge still count.
        row = TrainingRow(impression_id=imp.impression_id, request_id=imp.request_id,
                          user_id=imp.user_id if imp.measured else None,
                          ts=imp.ts, campaign_id=imp.campaign_id, creative_id=imp.creative_id,
                          bid_type=imp.bid_type, rank=imp.rank, model_version=imp.model_version,
                          variant=imp.variant, pctr=imp.pctr, feature_set=imp.feature_set,
                          features=imp.features, clicked=st.click is not None, conversions=st.conversions,
                          conversion_value=st.value, charge=imp.charge, revision=revision,
                          labelled_ts=labelled)
    except MessageError as e:
        out.rejected.append(Rejected("invalid", f"no training row for impression {imp.impression_id}: {e}",
                                     imp.encode(), e.field, "impression"))
        return
    out.training.append(row)


def _belongs(imp: Priced, request_id: str | None, user_id: str | None, campaign_id: str, ts: int,
             window_ms: int, w: Windows) -> tuple | None:
    """(field, why) when an event does not belong to impression ``imp``; None when it does."""
    if request_id is not None and request_id != imp.request_id:
        return "request_id", f"impression {imp.impression_id} was shown for request {imp.request_id}"
    if campaign_id != imp.campaign_id:
        return "campaign_id", f"impression {imp.impression_id} is of campaign {imp.campaign_id}"
    if user_id != imp.user_id:
        return "user_id", f"impression {imp.impression_id} was shown to another user"
    dt = ts - imp.ts
    if dt < -w.join_wait_ms or dt > window_ms:
        return "ts", (f"{dt / 1000:.1f} s after impression {imp.impression_id}: outside its "
                      f"attribution window [-{w.join_wait_ms // 1000}, {window_ms // 1000}] s")
    return None


def expire(st: ImpressionState, watermark: int, out: Outputs, w: Windows) -> bool:
    """Event time reached ``watermark``: what waited too long is an orphan, and an impression
    whose click window has closed gets its training row. True when the state is done (the
    adapter clears it)."""
    if st.imp is not None and st.logged < 0 and st.imp.ts + w.label_ms <= watermark:
        _log(st, st.imp.ts + w.label_ms, out)
    keep = []
    for item in st.waiting:
        ts, kind, event_id, raw = item
        if ts + w.join_wait_ms > watermark:
            keep.append(item)
            continue
        missing = "impression" if st.imp is None else "click"
        out.rejected.append(Rejected(ORPHAN, f"{kind} {event_id}: its {missing} did not arrive within "
                                             f"{w.join_wait_ms // 1000} s of event time (feedback.join_wait_s)",
                                     raw, "impression_id" if st.imp is None else "click_id", kind))
    st.waiting = keep
    return not keep and (st.imp is None or st.imp.ts + w.longest_ms + w.lateness_ms <= watermark)
