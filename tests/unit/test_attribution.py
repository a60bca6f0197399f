"""The feedback job's joins, on scripted sequences: served log ⨝ impression (``pricing``), then
impression ⨝ click ⨝ conversion (``attribution``), with exact expected counts and charges."""
from __future__ import annotations

import pytest

from udfs.core import attribution as B
from udfs.core import pricing as A
from udfs.core.attributed import CLICK, CONVERSION, IMPRESSION, Attributed
from udfs.messages import AdClick, Conversion, Impression, ServedAd, ServedLog
from udfs.messages.served import CHARGED_ON, charge_of

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
WA = A.Windows(impression_window_ms=600_000, join_wait_ms=60_000, lateness_ms=60_000)
ROW = (0.5, 1.25, -3.0, 0.10000000149011612)   # float32 values, as the served log carries them
WB = B.Windows(click_window_ms=1_800_000, conversion_window_ms=7 * 86_400_000, join_wait_ms=60_000,
               lateness_ms=60_000)


def ad(rank, creative, campaign, bid_type, price):
    return ServedAd(ad_id=f"a-{creative}", campaign_id=campaign, creative_id=creative, advertiser_id="adv",
                    rank=rank, bid_type=bid_type, bid=price * 2, pctr=0.05, pcvr=None, ecpm=1.0, price=price,
                    charged_on=CHARGED_ON[bid_type], charge=charge_of(bid_type, price), features=())


def served(rid="r1", user="u1", ts=T0):
    return ServedLog(request_id=rid, user_id=user, ts=ts, slot="home", model_version="v1", variant="control",
                     ads=(ad(1, "cr-cpm", "cm-cpm", "CPM", 2.0), ad(2, "cr-cpc", "cm-cpc", "CPC", 0.3),
                          ad(3, "cr-cpa", "cm-cpa", "CPA", 4.0)))


def imp(iid, creative, campaign, rid="r1", user="u1", ts=T0 + 100):
    return Impression(impression_id=iid, request_id=rid, user_id=user, ad_id=f"a-{creative}",
                      campaign_id=campaign, creative_id=creative, ts=ts, position=1, price=99.0)


def click(cid, iid, campaign, ts, rid="r1", user="u1"):
    return AdClick(click_id=cid, impression_id=iid, request_id=rid, user_id=user, ad_id="a", campaign_id=campaign,
                   ts=ts)


def conv(vid, iid, campaign, ts, click_id=None, user="u1"):
    return Conversion(conversion_id=vid, impression_id=iid, click_id=click_id, user_id=user, campaign_id=campaign,
                      ts=ts, value=10.0)


def first(events):
    """Run served logs and impressions through the first join of one request; returns outputs."""
    st, out = A.RequestState(), A.Outputs()
    for e in events:
        raw = e.to_json()
        (A.on_served if isinstance(e, ServedLog) else A.on_impression)(st, e, raw, out, WA)
    return st, out


def kinds(out):
    return sorted(r.kind for r in out.rejected)


def test_impression_priced_from_the_served_log_not_the_event():
    _, out = first([served(), imp("i1", "cr-cpm", "cm-cpm"), imp("i2", "cr-cpc", "cm-cpc")])
    assert [a.event_id for a in out.attributed] == ["i1", "i2"]
    cpm, cpc = out.attributed
    assert cpm.charge == pytest.approx(2.0 / 1000) and cpm.kind == IMPRESSION   # not the event's 99.0
    assert cpc.charge == 0.0                      # CPC pays per click
    assert [p.charge for p in out.priced] == [pytest.approx(0.002), pytest.approx(0.3)]
    assert out.priced[0].model_version == "v1" and not out.rejected


def test_impression_before_its_served_log_waits_then_joins():
    _, out = first([imp("i1", "cr-cpm", "cm-cpm"), served()])
    assert [a.event_id for a in out.attributed] == ["i1"] and not out.rejected


def test_duplicates_rejected_wherever_they_wait():
    _, out = first([imp("i1", "cr-cpm", "cm-cpm"), imp("i1", "cr-cpm", "cm-cpm"), served(),
                    imp("i1", "cr-cpm", "cm-cpm"), served()])
    assert len(out.attributed) == 1
    assert kinds(out) == ["duplicate", "duplicate", "duplicate"]


def test_impression_that_does_not_belong_is_unattributed():
    _, out = first([served(), imp("i1", "cr-other", "cm-cpm"), imp("i2", "cr-cpm", "cm-cpc"),
                    imp("i3", "cr-cpm", "cm-cpm", user="u2"), imp("i4", "cr-cpm", "cm-cpm", ts=T0 + 601_000)])
    assert not out.attributed
    assert [r.field for r in out.rejected] == ["creative_id", "campaign_id", "user_id", "ts"]
    assert set(kinds(out)) == {"unattributed"}


def test_orphan_after_join_wait_and_state_done_after_window():
    st, out = first([imp("i1", "cr-cpm", "cm-cpm", ts=T0)])
    assert st.wake(WA) == T0 + 60_000
    assert not A.expire(st, T0 + 59_999, out, WA) and not out.rejected
    assert A.expire(st, T0 + 60_000, out, WA)
    assert kinds(out) == ["orphan"]
    st, out = first([served(ts=T0)])
    assert st.wake(WA) == T0 + 600_000 + 60_000
    assert not A.expire(st, T0 + 659_999, out, WA)
    assert A.expire(st, T0 + 660_000, out, WA)


def test_late_names_the_watermark_and_the_bound():
    assert A.late(T0, T0 + 60_000, 60_000) is None
    assert "allowed_lateness_ms" in A.late(T0, T0 + 60_001, 60_000)


def priced(iid="i1", bid_type="CPC", charge=0.3, campaign="cm", ts=T0):
    return A.Priced(iid, "r1", "u1", ts, campaign, "cr", bid_type, charge, "v1", "control",
                    rank=2, pctr=0.05, feature_set="fs1", features=ROW)


def second(p, events):
    st, out = B.ImpressionState(), A.Outputs()
    for e in events:
        if e is p:
            B.on_priced(st, e, out, WB)
        elif isinstance(e, AdClick):
            B.on_click(st, e, e.to_json(), out, WB)
        else:
            B.on_conversion(st, e, e.to_json(), out, WB)
    return st, out


def test_click_then_conversion_charged_by_bid_type():
    for bid_type, click_charge, conv_charge in (("CPC", 0.3, 0.0), ("CPA", 0.0, 0.3), ("CPM", 0.0, 0.0)):
        p = priced(bid_type=bid_type)
        _, out = second(p, [p, click("k1", "i1", "cm", T0 + 5_000), conv("v1", "i1", "cm", T0 + 9_000, "k1")])
        assert [(a.kind, a.charge) for a in out.attributed] == [(CLICK, click_charge), (CONVERSION, conv_charge)]
        assert out.attributed[1].view_through is False and out.attributed[1].value == 10.0


def test_events_before_their_impression_wait_in_order():
    p = priced()
    _, out = second(p, [conv("v1", "i1", "cm", T0 + 9_000, "k1"), click("k1", "i1", "cm", T0 + 5_000), p])
    assert [a.kind for a in out.attributed] == [CLICK, CONVERSION] and not out.rejected


def test_one_click_per_impression_and_duplicates():
    p = priced()
    _, out = second(p, [p, click("k1", "i1", "cm", T0 + 1), click("k1", "i1", "cm", T0 + 2),
                        click("k2", "i1", "cm", T0 + 3), conv("v1", "i1", "cm", T0 + 4, "k2"),
                        conv("v2", "i1", "cm", T0 + 5), conv("v2", "i1", "cm", T0 + 6)])
    assert [(a.kind, a.event_id, a.view_through) for a in out.attributed] == [
        (CLICK, "k1", False), (CONVERSION, "v2", True)]
    assert kinds(out) == ["duplicate", "duplicate", "duplicate", "unattributed"]


def test_outside_windows_and_wrong_campaign_unattributed():
    p = priced()
    _, out = second(p, [p, click("k1", "i1", "cm", T0 + 1_800_001), click("k2", "i1", "other", T0 + 1),
                        click("k3", "i1", "cm", T0 + 1, rid="r9"), conv("v1", "i1", "cm", T0 + 7 * 86_400_000 + 1)])
    assert not out.attributed
    assert [r.field for r in out.rejected] == ["ts", "campaign_id", "request_id", "ts"]


def test_orphans_expire_and_state_lives_for_the_longest_window():
    st, out = second(None, [click("k1", "i1", "cm", T0), conv("v1", "i1", "cm", T0 + 10, "k9")])
    assert B.expire(st, T0 + 60_010, out, WB)
    assert kinds(out) == ["orphan", "orphan"]
    p = priced()
    st, out = second(p, [p, conv("v1", "i1", "cm", T0 + 10, "k9")])   # its click never comes
    assert st.wake(WB) == T0 + 10 + 60_000
    assert not B.expire(st, T0 + 60_010, out, WB)                       # the impression stays
    assert kinds(out) == ["orphan"] and "click" in out.rejected[0].reason
    assert st.wake(WB) == T0 + 1_800_000 + 60_000                       # its training row is due
    assert not B.expire(st, T0 + 1_860_000, out, WB) and len(out.training) == 1
    assert st.wake(WB) == T0 + 7 * 86_400_000 + 60_000
    assert B.expire(st, T0 + 7 * 86_400_000 + 60_000, out, WB)


def test_attributed_round_trips_between_stages():
    a = Attributed(CONVERSION, "v1", T0, "cm", "cr", "oCPA", 1.5, value=3.0, view_through=True)
    assert Attributed.decode(a.encode()) == a
    p = priced()
    assert A.Priced.decode(p.encode()) == p


# ------------------------------------------------------------------ the training log

def test_the_first_join_hands_on_the_served_row():
    from udfs.messages.base import replace
    log = served()
    log = replace(log, feature_set="fs1", ads=tuple(replace(a, features=ROW) for a in log.ads))
    st, out = A.RequestState(), A.Outputs()
    A.on_served(st, log, log.to_json(), out, WA)
    A.on_impression(st, imp("i1", "cr-cpc", "cm-cpc"), "{}", out, WA)
    (p,) = out.priced
    assert (p.rank, p.pctr, p.feature_set, p.features) == (2, 0.05, "fs1", ROW)
    assert A.Priced.decode(p.encode()) == p


def test_a_row_is_written_when_the_click_window_closes_and_late_labels_correct_it():
    p = priced()
    st, out = second(p, [p, click("k1", "i1", "cm", T0 + 5_000)])
    assert not out.training                                          # the click window is open
    assert not B.expire(st, T0 + 1_859_999, out, WB) and not out.training
    assert not B.expire(st, T0 + 1_860_000, out, WB)
    (row,) = out.training
    assert (row.revision, row.clicked, row.conversions, row.labelled_ts) == (0, True, 0, T0 + 1_860_000)
    assert (row.impression_id, row.request_id, row.user_id, row.ts) == ("i1", "r1", "u1", T0)
    assert (row.rank, row.pctr, row.model_version, row.variant) == (2, 0.05, "v1", "control")
    assert row.features == ROW and row.feature_set == "fs1"
    assert row.charge == p.charge and row.bid_type == p.bid_type   # the served charge, for revenue
    out.training.clear()
    for e in (conv("v1", "i1", "cm", T0 + 3_600_000, "k1"), conv("v1", "i1", "cm", T0 + 3_600_001, "k1"),
              conv("v2", "i1", "cm", T0 + 1_000)):                     # v1 repeated; v2 older than the row
        B.on_conversion(st, e, e.to_json(), out, WB)
    assert [(r.revision, r.conversions, r.conversion_value) for r in out.training] == [(1, 1, 10.0), (2, 2, 20.0)]
    assert [r.labelled_ts for r in out.training] == [T0 + 3_600_000, T0 + 3_600_001]   # increasing
    assert kinds(out) == ["duplicate"]
    out.training.clear()
    assert B.expire(st, T0 + 7 * 86_400_000 + 60_000, out, WB) and not out.training   # once per revision


def test_an_unclicked_impression_gets_its_row_too_and_a_row_is_written_once():
    p = priced()
    st, out = second(p, [p])
    B.expire(st, T0 + 1_860_000, out, WB)
    B.expire(st, T0 + 1_900_000, out, WB)                             # a timer again: no second row
    assert [(r.revision, r.clicked, r.conversions) for r in out.training] == [(0, False, 0)]


def test_a_state_from_before_the_training_log_is_rejected_not_raised():
    import pickle
    st, out = second(None, [])
    st.imp = A.Priced("i1", "r1", "u1", T0, "cm", "cr", "CPC", 0.3, "v1", "control")   # no rank: old
    for name in ("conversions", "value", "logged", "logged_ts"):
        st.__dict__.pop(name, None)                                   # as unpickled from before
    st = pickle.loads(pickle.dumps(st))
    assert st.logged == -1 and st.conversions == 0
    B.expire(st, T0 + 1_860_000, out, WB)
    assert not out.training and kinds(out) == ["invalid"] and "training row" in out.rejected[0].reason
    assert st.logged == 0                                             # not retried on every timer
