"""The consent decision (udfs.core.consent): every mode x flag absent/true/false x geo override,
the v1 boolean, and the policy's config checks."""
import itertools

import pytest

from udfs.config import ConfigError, ConsentPolicy
from udfs.core import consent as C
from udfs.messages import AdRequest, ClickEvent, Consent, RequestContext

pytestmark = pytest.mark.unit

FLAGS = (None, True, False)


@pytest.mark.parametrize("mode,p,m", itertools.product(("opt_in", "opt_out"), FLAGS, FLAGS))
def test_a_stated_flag_wins_and_an_absent_one_follows_the_mode(mode, p, m):
    d = C.decide(Consent(personalisation=p, measurement=m), "DE", ConsentPolicy(default=mode))
    absent = mode == "opt_out"
    assert d == C.Decision(absent if p is None else p, absent if m is None else m)


@pytest.mark.parametrize("default,override", [("opt_in", "opt_out"), ("opt_out", "opt_in")])
@pytest.mark.parametrize("p", FLAGS)
def test_a_geo_override_decides_only_that_geos_absent_flags(default, override, p):
    policy = ConsentPolicy(default=default, geos={"US": override})
    here, there = C.decide(Consent(personalisation=p), "US", policy), C.decide(Consent(personalisation=p), "DE", policy)
    assert here.personalisation == (override == "opt_out" if p is None else p)
    assert there.personalisation == (default == "opt_out" if p is None else p)
    assert here.measurement == (override == "opt_out") and there.measurement == (default == "opt_out")


def test_no_consent_object_at_all_is_every_flag_absent():
    assert C.decide(None, "", ConsentPolicy()) == C.Decision(False, False)
    assert C.decide(None, "", ConsentPolicy(default="opt_out")) == C.Decision(True, True)


@pytest.mark.parametrize("mode", ("opt_in", "opt_out"))
@pytest.mark.parametrize("flag", (True, False))
def test_the_v1_boolean_is_personalisation_and_leaves_measurement_absent(mode, flag):
    d = C.decide(flag, "", ConsentPolicy(default=mode))
    assert d == C.Decision(flag, mode == "opt_out")


def test_event_and_request_read_their_own_geo():
    policy = ConsentPolicy(geos={"US": "opt_out"})
    ev = ClickEvent(event_id="e", user_id="u", ts=1, type="view", item_id="i", geo="US")
    assert C.of_event(ev, policy) == C.Decision(True, True)
    req = AdRequest(request_id="r", user_id="u", ts=1, slot="s", num_ads=1, context=RequestContext(geo="US"))
    assert C.of_request(req, policy) == C.Decision(True, True)
    req = AdRequest(request_id="r", user_id="u", ts=1, slot="s", num_ads=1, context=RequestContext(geo="FR"),
                    consent=Consent(measurement=True))
    assert C.of_request(req, policy) == C.Decision(False, True)


def test_the_default_policy_is_opt_in_and_a_wrong_mode_names_its_key():
    assert ConsentPolicy().default == "opt_in"
    with pytest.raises(ConfigError, match="privacy.consent.geos.US"):
        ConsentPolicy(geos={"US": "maybe"})
    with pytest.raises(ConfigError, match="privacy.consent.default"):
        ConsentPolicy(default="yes")


def test_the_config_loads_the_policy_with_overrides():
    from udfs.config import load
    cfg = load("base", overrides=["privacy.consent.geos={US: opt_out}"])
    assert cfg.privacy.consent.mode("US") == "opt_out" and cfg.privacy.consent.mode("DE") == "opt_in"


def test_each_version_keeps_its_own_consent_shape():
    from udfs.errors import MessageError
    base = {"schema": "clickstream", "event_id": "e", "user_id": "u", "ts": 1, "type": "view", "item_id": "i"}
    with pytest.raises(MessageError, match="needs v 2"):
        ClickEvent.from_dict({**base, "v": 1, "consent": {"personalisation": True}})
    with pytest.raises(MessageError, match="not true/false"):
        ClickEvent.from_dict({**base, "v": 2, "consent": True})
    req = {"schema": "ad_request", "v": 1, "request_id": "r", "user_id": "u", "ts": 1, "slot": "s", "num_ads": 1}
    assert AdRequest.from_dict(req).consent is None
    with pytest.raises(MessageError, match="v 1 carries no consent"):
        AdRequest.from_dict({**req, "consent": {"personalisation": True}})
