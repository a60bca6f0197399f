"""Per-request orchestration (udfs/core/scoring.py) with fakes: every branch, and never unanswered."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from udfs.core.budget import CatalogBudget, SpendLedger, UnlimitedBudget
from udfs.core.caps import FrequencyCaps
from udfs.core.catalog import Advertiser, Campaign, Catalog, Creative, Targeting
from udfs.config import CapRule, ReviewPolicy, Scoring
from udfs.core.featurize import Featurizer
from udfs.messages import AdRequest, DeadLetter, RankedAds, RequestContext
from udfs.core import scoring as S

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000 + 10 * 3_600_000
SCORING = Scoring(default_pcvr=0.02, reserve_ecpm=0.5, max_ads_per_advertiser=2,
                  campaign_caps=(CapRule(3600, 2),), creative_caps=(CapRule(3600, 1),),
                  review=ReviewPolicy(3, 90), fallback_prior_ctr=0.01)
FEAT = Featurizer((600, 3600, 86400))
PRICE = FEAT.names.index("ad_price")
KNOWN = FEAT.names.index("known_user")
PROFILE = {"top_categories": ["c1"], "top_category_scores": [2.0], "interest_total": 2.0,
           "last_event_ts": T0 - 60_000, "cnt_view_10m": 3}


class FakeModel:
    """pCTR = the ad's price / 1000, so a test sets each creative's pCTR through its price."""
    version = "v-test"

    def __init__(self, fail: bool = False):
        self.calls, self.fail, self.last = [], fail, None

    def score(self, X):
        self.calls.append(X.shape)
        self.last = X
        if self.fail:
            raise RuntimeError("onnx exploded")
        return X[:, PRICE] / 1000.0


class Profiles:
    def __init__(self, rows=None, exc=None):
        self.rows, self.exc, self.calls = rows or {}, exc, 0

    def read(self, user_id):
        self.calls += 1
        if self.exc:
            raise self.exc
        return self.rows.get(user_id)


def catalog() -> Catalog:
    cat = Catalog()
    for a in ("A", "B"):
        cat.put(Advertiser(advertiser_id=a))
    specs = [("x1", "A", "CPC", 0.5, 40.0), ("x2", "A", "CPC", 0.5, 30.0), ("x3", "A", "CPC", 0.5, 50.0),
             ("y1", "B", "CPM", 3.0, 10.0), ("y2", "B", "CPC", 0.01, 10.0)]
    for cid, adv, bt, bid, price in specs:
        cat.put(Campaign(campaign_id=f"c-{cid}", advertiser_id=adv, daily_budget=10.0, bid_type=bt, bid=bid))
        cat.put(Creative(creative_id=cid, ad_id=f"ad-{cid}", campaign_id=f"c-{cid}", advertiser_id=adv,
                         category_id="c1", price=price, title="Nice thing", landing_url="https://e.example",
                         review_status="approved"))
    return cat


def deps(cat=None, *, profiles=None, model="default", state=None, **kw) -> S.Deps:
    cat = catalog() if cat is None else cat
    return S.Deps(catalog=cat, budget=kw.pop("budget", UnlimitedBudget()),
                  caps=S.DictCaps(FrequencyCaps.from_config(SCORING), {} if state is None else state),
                  profiles=Profiles({"u1": PROFILE}) if profiles is None else profiles,
                  model=FakeModel() if model == "default" else model, **kw)


def req(rid="r1", user="u1", n=3, **ctx) -> bytes:
    return AdRequest(request_id=rid, user_id=user, ts=T0, slot="home_top", num_ads=n,
                     context=RequestContext(**{"device": "mobile", "geo": "DE", **ctx})).encode()


def scorer(**kw) -> S.RequestScorer:
    return S.RequestScorer(SCORING, FEAT, source_topic="ad-requests.v1", variant="B",
                           wall_ms=lambda: 42, **kw)


def ids(resp: RankedAds):
    return [a.creative_id for a in resp.ads]


# ------------------------------------------------------------------ personal path

def test_personal_ranking_one_model_call_for_all_candidates():
    d = deps()
    out = scorer().handle(req(), d)
    r = out.response
    # eCPM: x3 0.5*0.05*1000=25, x1 20, x2 15, y1 3 (CPM), y2 0.01*0.01*1000=0.1 < reserve
    assert ids(r) == ["x3", "x1", "y1"]                     # A capped at 2 by diversity
    assert [a.rank for a in r.ads] == [1, 2, 3]
    assert r.ads[0].ecpm == pytest.approx(25.0) and r.ads[0].pctr == pytest.approx(0.05)
    assert r.ads[0].price == pytest.approx(20.0 / 50.0)     # next eCPM 20 / quality 50 = 0.4 per click
    assert r.ads[2].price == pytest.approx(0.5)   # x2 left by diversity, y2 under reserve: the reserve
    assert d.model.calls == [(5, len(FEAT.names))]          # one batched call, every candidate
    assert d.model.last[0, KNOWN] == 1.0
    assert not r.fallback and r.fallback_reason is None and r.model_version == "v-test"
    assert r.variant == "B" and r.request_id == "r1" and r.ts == 42
    assert {"decode", "features", "eligible", "caps", "featurize", "model", "auction", "total"} <= set(r.timings_ms)
    assert out.candidates == 5 and out.reasons == () and out.dead_letter is None


def test_served_ads_count_against_caps_and_capped_ones_drop_out():
    state: dict = {}
    first = scorer().handle(req(), deps(state=state)).response
    second = scorer().handle(req("r2"), deps(state=state))
    # creative caps 1/h: every creative served once is out; x2 and y2 remain
    assert set(ids(first)).isdisjoint(ids(second.response))
    assert second.capped == 3 and ids(second.response) == ["x2"]


def test_anonymous_request_is_contextual_flagged_and_never_capped():
    d = deps(state=(state := {}))
    r = scorer().handle(req(user=None), d).response
    assert r.fallback and r.fallback_reason.startswith("anonymous") and r.model_version == "v-test"
    assert d.model.last[0, KNOWN] == 0.0 and d.profiles.calls == 0
    assert state == {} and ids(r) == ["x3", "x1", "y1"]


@pytest.mark.parametrize("profiles, reason", [
    (Profiles({}), S.UNKNOWN_USER),
    (Profiles(exc=S.ProfileUnavailable(S.PROFILE_TIMEOUT, "20 ms")), S.PROFILE_TIMEOUT),
    (Profiles(exc=S.ProfileUnavailable(S.PROFILE_SKIPPED)), S.PROFILE_SKIPPED),
    (Profiles(exc=ConnectionError("refused")), S.PROFILE_ERROR),
    (None, S.PROFILE_SKIPPED),
])
def test_no_personal_features_gives_flagged_contextual_ranking(profiles, reason):
    d = deps(profiles=profiles) if profiles is not None else S.Deps(
        catalog(), UnlimitedBudget(), S.DictCaps(FrequencyCaps(), {}), None, FakeModel())
    out = scorer().handle(req(), d)
    assert out.reasons == (reason,) and out.response.fallback and out.response.ads
    assert d.model.last[0, KNOWN] == 0.0


def test_an_idle_profile_past_its_ttl_counts_as_no_profile():
    """Training drops a profile idle longer than the TTL (udfs.core.profile.expired); so does serving."""
    sc = S.RequestScorer(SCORING, FEAT, source_topic="t", profile_ttl_ms=3_600_000)
    old = {**PROFILE, "last_event_ts": T0 - 3_600_001}
    d = deps(profiles=Profiles({"u1": old}))
    out = sc.handle(req(), d)
    assert out.reasons == (S.PROFILE_EXPIRED,) and d.model.last[0, KNOWN] == 0.0
    fresh = deps(profiles=Profiles({"u1": {**PROFILE, "last_event_ts": T0 - 3_600_000}}))
    assert sc.handle(req(), fresh).reasons == ()


def test_no_model_ranks_by_prior_ctr():
    class Stats(S.NoStats):
        def ctr_prior(self, creative_id):
            return {"x2": 0.2}.get(creative_id)
    out = scorer().handle(req(), deps(model=None, stats=Stats()))
    r = out.response
    assert out.reasons == (S.NO_MODEL_LOADED,) and r.fallback and r.model_version == S.NO_MODEL
    # x2 0.5*0.2*1000 = 100; y1 CPM 3; x1/x3 0.5*0.01*1000 = 5 (tie: pCTR, then id)
    assert ids(r) == ["x2", "x1", "y1"]


def test_model_failure_falls_back_and_says_so():
    out = scorer().handle(req(), deps(model=FakeModel(fail=True)))
    assert out.reasons == (S.MODEL_ERROR,) and out.response.model_version == S.NO_MODEL
    assert out.response.ads and "model failed" in out.response.fallback_reason


def test_a_stale_model_ranks_and_says_the_promoted_one_failed_to_load():
    out = scorer().handle(req(), deps(model_stale=True))
    r = out.response
    assert out.reasons == (S.MODEL_STALE,) and r.fallback and r.model_version == FakeModel().version
    assert r.ads and "could not be loaded" in r.fallback_reason
    # without a model there is nothing stale to report: the answer says there is no model
    assert scorer().handle(req(), deps(model=None, model_stale=True)).reasons == (S.NO_MODEL_LOADED,)


def test_two_reasons_are_both_reported():
    out = scorer().handle(req(user=None), deps(model=None))
    assert out.reasons == (S.ANONYMOUS, S.NO_MODEL_LOADED)
    assert "anonymous" in out.response.fallback_reason and "no model" in out.response.fallback_reason


def test_targeting_and_budget_come_from_the_catalogue():
    cat = catalog()
    cat.put(Campaign(campaign_id="c-x3", advertiser_id="A", daily_budget=0.0, bid_type="CPC", bid=0.5))
    cat.put(Campaign(campaign_id="c-x1", advertiser_id="A", daily_budget=5.0, bid_type="CPC", bid=0.5,
                     targeting=Targeting(geos=("FR",))))
    r = scorer().handle(req(), deps(cat, budget=CatalogBudget(cat, SpendLedger()))).response
    assert ids(r) == ["x2", "y1"]


def test_no_candidates_is_an_empty_answer_without_a_model_call():
    d = deps(Catalog())
    out = scorer().handle(req(), d)
    assert out.response.ads == () and not out.response.fallback and d.model.calls == []


# ------------------------------------------------------------------ malformed and broken

def test_malformed_request_goes_to_dead_letters_only():
    out = scorer().handle(b"{not json", deps())
    assert out.response is None and out.reasons == (S.INVALID,)
    assert out.dead_letter.kind == "invalid" and out.dead_letter.field == "<payload>"
    assert out.dead_letter.source_topic == "ad-requests.v1" and out.dead_letter.original == "{not json"


def test_invalid_request_with_an_id_also_gets_an_empty_flagged_answer():
    bad = json.dumps({"schema": "ad_request", "v": 1, "request_id": "r9", "user_id": "u1", "ts": T0,
                      "slot": "s", "num_ads": 0})
    out = scorer().handle(bad, deps())
    assert out.dead_letter.field == "num_ads" and "must be >= 1" in out.dead_letter.reason
    assert out.response.request_id == "r9" and out.response.ads == () and out.response.fallback
    assert out.response.fallback_reason.startswith("invalid request")


def test_a_bug_costs_the_ranking_not_the_answer():
    class Broken(Catalog):
        def campaign_ids_with_creatives(self):
            raise KeyError("boom")
    out = scorer().handle(req(), deps(Broken()))
    assert out.reasons == (S.INTERNAL,) and out.response.fallback and out.response.ads == ()
    assert "internal error" in out.response.fallback_reason


def test_never_unanswered_fuzz():
    """Random mutations of a valid request: each gets a response, or (no readable id) a dead letter."""
    rnd = random.Random(7)
    base = json.loads(req())
    bad_values = [None, -1, 0, 10**9, "", "x" * 300, [], {}, 1.5, True, "mobile"]
    broken_sources = [Profiles(exc=S.ProfileUnavailable(S.PROFILE_TIMEOUT)), Profiles(exc=OSError()),
                      Profiles({"u1": PROFILE}), Profiles({})]
    for i in range(400):
        doc = json.loads(json.dumps(base))
        for _ in range(rnd.randint(0, 3)):
            k = rnd.choice(list(doc) + ["extra"])
            if rnd.random() < 0.2:
                doc.pop(k, None)
            else:
                doc[k] = rnd.choice(bad_values + [base.get(k)])
        raw = json.dumps(doc).encode() if rnd.random() < 0.9 else bytes(rnd.randrange(256) for _ in range(20))
        d = deps(profiles=rnd.choice(broken_sources), model=rnd.choice([FakeModel(), None, FakeModel(True)]))
        out = scorer().handle(raw, d)
        rid = doc.get("request_id") if isinstance(doc, dict) else None
        readable = isinstance(rid, str) and 0 < len(rid) <= 128 and raw.startswith(b"{")
        if readable:
            assert out.response is not None and out.response.request_id == rid, (raw, out)
            RankedAds.decode(out.response.encode())       # and it is a valid wire message
        else:
            assert out.response is not None or out.dead_letter is not None, raw
        assert out.response is None or out.response.fallback == bool(out.reasons)


def test_request_too_far_ahead_of_the_wall_clock_is_dead_lettered_as_future():
    from udfs.messages.bounds import TimeBounds
    sc = scorer(bounds=TimeBounds(min_ts_ms=946_684_800_000, max_future_skew_ms=300_000))
    sc.wall_ms = lambda: T0 - 300_001          # the job's clock, injected: the request is 5 min + 1 ms ahead
    out = sc.handle(req(), deps())
    assert out.dead_letter.kind == "future" and out.dead_letter.field == "ts"
    assert out.response.request_id == "r1" and out.response.fallback and out.response.ads == ()
    sc.wall_ms = lambda: T0 - 300_000
    assert sc.handle(req(), deps()).dead_letter is None


def test_the_job_scorer_bounds_request_ts_from_config():
    from udfs import config
    from udfs.messages.bounds import TimeBounds
    cfg = config.load("test")
    assert S.RequestScorer.for_job(cfg, FEAT, "t").bounds == TimeBounds.from_config(cfg.messages)


def test_an_id_the_answer_cannot_carry_is_no_id():
    """A request id that is not clean text: a dead letter, never a crash building the answer."""
    for rid in ("r\ufffd", "r\ud800"):
        raw = json.dumps(json.loads(req()) | {"request_id": rid})
        out = scorer().handle(raw, deps())
        assert out.response is None and out.dead_letter.field == "request_id"
        DeadLetter.decode(out.dead_letter.encode())


def test_an_answer_quoting_unclean_input_is_still_written():
    """The error names a field the request made up; the flagged answer quotes it, escaped."""
    raw = json.dumps(json.loads(req()) | {"bad\ufffdkey": 1, "x\ud800": 2})
    out = scorer().handle(raw, deps())
    assert out.dead_letter.kind == "invalid" and out.response.request_id == "r1"
    assert "\\ufffd" in out.response.fallback_reason
    assert RankedAds.decode(out.response.encode()) == out.response
    DeadLetter.decode(out.dead_letter.encode())


def test_a_throttled_campaign_sits_out_most_requests_and_is_counted():
    from udfs.core.pacing import Pacer, PacingParams
    pacer = Pacer(PacingParams.of("uniform", 0.0, 0.5, 0.01))
    for _ in range(10):           # c-x3 spent all of its budget at midnight: throttled to the floor
        pacer.update([("c-x3", 10.0, 10.0)], 0)
    outs = [scorer().handle(req(f"p{i}"), deps(pacing=pacer)) for i in range(200)]
    with_x3 = sum("x3" in ids(o.response) for o in outs)
    assert with_x3 <= 10                                    # ~1 % of requests (min_rate 0.01)
    assert sum(o.paced for o in outs) == 200 - with_x3      # each sat-out request counts one creative
    assert ids(outs[0].response) == ids(scorer().handle(req("p0"), deps(pacing=pacer)).response)
