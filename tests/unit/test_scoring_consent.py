"""The scorer without personalisation consent (docs/privacy.md): no profile read, contextual ads,
flagged 'no_consent', no caps state keyed by the user; with consent, personal as before."""
import pytest

from tests.unit.test_scoring import KNOWN, T0, deps, ids, scorer
from udfs.config import ConsentPolicy
from udfs.core import scoring as S
from udfs.messages import AdRequest, Consent, RequestContext

pytestmark = pytest.mark.unit


def request(personalisation=None, geo="DE", user="u1", rid="r1") -> bytes:
    consent = None if personalisation is None else Consent(personalisation=personalisation)
    return AdRequest(request_id=rid, user_id=user, ts=T0, slot="home_top", num_ads=3,
                     context=RequestContext(device="mobile", geo=geo), consent=consent).encode()


@pytest.mark.parametrize("raw", [request(False), request(None)], ids=["refused", "absent under opt-in"])
def test_no_consent_reads_no_profile_ranks_contextually_and_says_why(raw):
    d, state = None, {}
    d = deps(state=state)
    out = scorer(consent=ConsentPolicy()).handle(raw, d)
    r = out.response
    assert d.profiles.calls == 0                            # the profile source was never asked
    assert r.fallback and r.fallback_reason == S.TEXT[S.NO_CONSENT] and out.reasons == (S.NO_CONSENT,)
    assert r.ads and d.model.last[0, KNOWN] == 0.0          # ranked, as for an unknown visitor
    assert state == {}                                      # no caps kept for this user
    assert out.served is not None and out.served.fallback_reason == S.TEXT[S.NO_CONSENT]


def test_consent_or_an_opt_out_geo_keeps_the_personal_answer():
    policy = ConsentPolicy(geos={"US": "opt_out"})
    for raw in (request(True), request(None, geo="US")):
        d = deps()
        out = scorer(consent=policy).handle(raw, d)
        assert d.profiles.calls == 1 and not out.response.fallback and d.model.last[0, KNOWN] == 1.0


def test_a_refusing_user_is_not_capped_by_what_they_were_shown():
    state: dict = {}
    s = scorer(consent=ConsentPolicy())
    first = s.handle(request(False), deps(state=state)).response
    second = s.handle(request(False, rid="r2"), deps(state=state)).response
    assert ids(first) == ids(second) and state == {}


def test_no_consent_is_in_the_reason_vocabulary():
    assert S.NO_CONSENT in S.REASONS and S.NO_CONSENT in S.TEXT


def test_the_served_log_carries_the_decision():
    raw = AdRequest(request_id="r1", user_id="u1", ts=T0, slot="home_top", num_ads=3,
                    context=RequestContext(geo="DE"),
                    consent=Consent(personalisation=True, measurement=False)).encode()
    served = scorer(consent=ConsentPolicy()).handle(raw, deps()).served
    assert served.personalised and not served.measured and served.user_id == "u1"   # the join needs the id
    served = scorer(consent=ConsentPolicy()).handle(request(False), deps()).served
    assert not served.personalised and not served.measured
