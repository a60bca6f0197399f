"""Measurement and personalisation consent through the feedback rules (docs/privacy.md): the
served log's decision reaches the Priced row; without measurement consent the training row has
no user id and the impression still counts in the statistics."""
import pytest

from tests.unit.test_attribution import WA, WB, ROW, click, imp, second, served
from udfs.core import pricing as A
from udfs.core.attributed import IMPRESSION
from udfs.errors import MessageError
from udfs.messages import ServedLog
from udfs.messages.base import replace

pytestmark = pytest.mark.unit


def priced_from(log):
    log = replace(log, feature_set="fs1", ads=tuple(replace(a, features=ROW) for a in log.ads))
    st, out = A.RequestState(), A.Outputs()
    A.on_served(st, log, log.to_json(), out, WA)
    A.on_impression(st, imp("i1", "cr-cpm", "cm-cpm"), "{}", out, WA)
    return out


@pytest.mark.parametrize("measured", [True, False])
def test_the_training_row_keeps_the_user_id_only_with_measurement_consent(measured):
    out = priced_from(replace(served(), measured=measured))
    (p,) = out.priced
    assert p.measured is measured and A.Priced.decode(p.encode()) == p
    assert [a.kind for a in out.attributed] == [IMPRESSION]          # counted in the statistics either way
    st, out2 = second(p, [p, click("k1", "i1", "cm-cpm", p.ts + 5_000)])
    from udfs.core import attribution as B
    B.expire(st, p.ts + 1_860_000, out2, WB)
    (row,) = out2.training
    assert row.user_id == ("u1" if measured else None) and row.clicked and row.impression_id == "i1"


def test_personalisation_decision_reaches_the_priced_row_for_the_caps_stage():
    (p,) = priced_from(replace(served(), personalised=False)).priced
    assert p.personalised is False and p.measured is True


def test_a_priced_row_and_a_request_state_of_before_consent_read_as_consenting():
    p = A.Priced("i1", "r1", "u1", 1, "cm", "cr", "CPC", 0.3, "v1", "control")
    old = '["i1","r1","u1",1,"cm","cr","CPC",0.3,"v1","control",2,0.05,"fs1",[]]'
    assert A.Priced.decode(old).measured and A.Priced.decode(old).personalised and p.measured
    st = A.RequestState()
    del st.__dict__["measured"], st.__dict__["personalised"]          # as unpickled from an old checkpoint
    out = A.Outputs()
    log = served()
    A.on_impression(st, imp("i1", "cr-cpm", "cm-cpm"), imp("i1", "cr-cpm", "cm-cpm").to_json(), out, WA)
    st.served_ts, st.user_id, st.ads = log.ts, log.user_id, {a.creative_id: (a.campaign_id, a.bid_type, a.charge)
                                                            for a in log.ads}
    A._join(st, imp("i2", "cr-cpm", "cm-cpm"), "{}", out, WA)
    assert out.priced[-1].measured and out.priced[-1].personalised


def test_a_v1_served_log_reads_as_consenting_and_cannot_carry_a_refusal():
    doc = served().to_dict()
    doc = {k: v for k, v in doc.items() if k not in ("personalised", "measured")}
    assert ServedLog.from_dict({**doc, "v": 1}).measured is True
    with pytest.raises(MessageError, match="needs v 2"):
        ServedLog.from_dict({**doc, "v": 1, "measured": False})
