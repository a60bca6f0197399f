"""``RequestScorer.handle_batch`` answers every request as ``handle`` one by one in order does.

Two identical worlds — catalogue, profiles, stored impressions, caps state, breaker, experiments,
models — one scored request by request (each with its own caps view, as the Flink adapter
builds it), the other in batches of varied sizes; every Outcome must be equal but for its
timings: the answer, the served log, the dead letter, reasons and counts. The stream mixes
repeated users within a batch (caps binding across them), anonymous visitors, refused
consent, unknown and expired profiles, malformed requests, an experiment with a pinned model
and exploration, a creative that makes the model raise for the requests it is eligible for,
a caps view that raises for one user, a store outage and an open breaker.
"""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from udfs.config import ConsentPolicy
from udfs.config.experiments import Experiment, Experiments, Variant
from udfs.core import scoring as S
from udfs.core.breaker import CircuitBreaker, GuardedProfiles
from udfs.core.caps import FrequencyCaps
from udfs.core.catalog import Advertiser, Campaign, Catalog, Creative, Targeting
from udfs.core.experiments import Assigner
from udfs.core.scoring_env import UserCaps
from udfs.core.budget import UnlimitedBudget
from udfs.messages import AdRequest, Consent, RequestContext
from tests.unit.test_scoring import FEAT, PRICE, SCORING, T0

pytestmark = pytest.mark.unit

POISON = 66.6   # a creative priced so: the model raises for any matrix holding its row
CATS = ["c1", "c2", "c3"]


class Model:
    """pCTR from the price (row by row, as a tree ensemble is); raises on the poison row."""

    def __init__(self, version: str, scale: float):
        self.version, self.scale, self.calls, self.rows = version, scale, 0, []

    def score(self, X):
        self.calls += 1
        self.rows.append(len(X))
        if np.any(np.isclose(X[:, PRICE], POISON)):
            raise RuntimeError("model exploded on the poison row")
        return (X[:, PRICE] / self.scale).astype(np.float32)


class Store:
    """The profile store: profiles and stored impressions (caps state) per user, ``down`` to fail."""

    def __init__(self, profiles: dict, seen: dict):
        self.profiles, self.seen, self.down = profiles, seen, False
        self.last: dict = {}
        self.round_trips = 0

    def read(self, uid):
        return self.read_many([uid])[0]

    def read_many(self, uids):
        self.round_trips += 1
        self.last = {}
        if self.down:
            raise TimeoutError("store timed out")
        self.last = {u: self.seen.get(u, {}) for u in uids}
        return [self.profiles.get(u) for u in uids]

    def stored(self, uid):
        return self.last.get(uid)


class BoomCaps(S.ImpressionCaps):
    def filter(self, user_id, creatives, now_ms):
        if user_id == "boom":
            raise RuntimeError("caps state unreadable")
        return super().filter(user_id, creatives, now_ms)


def catalog() -> Catalog:
    cat = Catalog()
    for a in "ABCD":
        cat.put(Advertiser(advertiser_id=a))
    specs = [("a1", "A", "CPC", 0.5, 40.0, "c1"), ("a2", "A", "CPC", 0.4, 30.0, "c2"),
             ("a3", "A", "CPM", 2.0, 50.0, "c3"), ("b1", "B", "CPM", 3.0, 10.0, "c1"),
             ("b2", "B", "CPC", 0.3, 70.0, "c2"), ("b3", "B", "CPA", 4.0, 20.0, "c3"),
             ("c1", "C", "CPC", 0.2, 90.0, "c1"), ("c2", "C", "CPM", 1.5, 15.0, "c2"),
             ("d1", "D", "CPA", 9.0, 25.0, "c3"), ("d2", "D", "CPC", 0.6, POISON, "c1")]
    for cid, adv, bt, bid, price, category in specs:
        targeting = Targeting(geos=("IT",)) if price == POISON else Targeting()
        cat.put(Campaign(campaign_id=f"k-{cid}", advertiser_id=adv, daily_budget=10.0, bid_type=bt, bid=bid,
                         targeting=targeting))
        cat.put(Creative(creative_id=cid, ad_id=f"ad-{cid}", campaign_id=f"k-{cid}", advertiser_id=adv,
                         category_id=category, price=price, title="Nice thing", landing_url="https://e.example",
                         review_status="approved"))
    return cat


def profiles(rng: random.Random) -> dict:
    out = {}
    for u in range(24):
        top = rng.sample(CATS, 2)
        out[f"u{u}"] = {"top_categories": top, "top_category_scores": [3.0, 1.0], "interest_total": 4.0,
                        "last_event_ts": T0 - rng.randint(1, 600) * 1000, "cnt_view_10m": rng.randint(0, 9),
                        "avg_price_viewed": float(rng.randint(10, 80))}
    out["u5"]["last_event_ts"] = T0 - 40 * 86_400_000      # idle past the TTL: expired
    out["boom"] = dict(out["u1"])
    return out


def requests(rng: random.Random, n: int) -> list:
    users = [f"u{u}" for u in range(30)] + ["boom"]          # u24..u29: no profile (unknown)
    out = []
    for i in range(n):
        k = rng.random()
        if k < 0.04:
            out.append(rng.choice([b"not json", b'{"request_id": "bad-%d", "num_ads": 0}' % i,
                                   b'{"request_id": 7}', b'[1, 2]']))
            continue
        user = None if k < 0.12 else rng.choice(users)
        consent = None if k < 0.18 else Consent(personalisation=k > 0.22, measurement=k > 0.3)
        out.append(AdRequest(request_id=f"r{i}", user_id=user, ts=T0 + i, slot="home_top",
                             num_ads=rng.randint(1, 4), consent=consent,
                             context=RequestContext(device=rng.choice(["mobile", "desktop"]),
                                                    geo="IT" if rng.random() < 0.03 else rng.choice(["DE", "FR"]),
                                                    page_category=rng.choice([None, *CATS]))).encode())
    return out


class World:
    """One side of the comparison: its own store, breaker, caps state, models and scorer."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        seen = {"u2": {"creative|u2|a1": [T0 - 1000]}, "u3": {"campaign|u3|k-b1": [T0 - 2000, T0 - 1000]}}
        self.store = Store(profiles(rng), seen)
        self.breaker = CircuitBreaker(1000, 5_000, lambda: 0.0)   # opened by hand below
        self.profiles = GuardedProfiles(self.store.read, self.breaker, read_many=self.store.read_many)
        self.caps, self.states = FrequencyCaps.from_config(SCORING), {}
        self.catalog = catalog()
        exp = Experiment("batch", "salt-b", "2025-11-30T00:00:00Z", "2025-12-09T00:00:00Z",
                         (Variant("control", 0.6), Variant("pinned", 0.4, model_version="v-pinned",
                                                           exploration=0.5)))
        self.assigner = Assigner(Experiments((exp,)), SCORING, "B")
        self.models = {"v-pinned": Model("v-pinned", 2000.0)}
        self.model = Model("v-test", 1000.0)
        self.scorer = S.RequestScorer(SCORING, FEAT, source_topic="ad-requests.v1", variant="B",
                                      wall_ms=lambda: 42, profile_ttl_ms=30 * 86_400_000,
                                      consent=ConsentPolicy())

    def view(self, uid: str) -> S.ImpressionCaps:
        return BoomCaps(self.caps, self.states.setdefault(uid, {}), lambda: self.store.stored(uid), 60_000)

    def deps(self, caps) -> S.Deps:
        return S.Deps(self.catalog, UnlimitedBudget(), caps, self.profiles, self.model,
                      experiments=self.assigner, models=self.models)

    def one(self, raw) -> S.Outcome:
        """As the adapter does: the request's own caps view, the last read forgotten."""
        self.store.last = {}
        try:
            uid = json.loads(raw).get("user_id") or ""
        except Exception:
            uid = ""
        return self.scorer.handle(raw, self.deps(self.view(uid)))

    def batch(self, raws) -> list:
        self.store.last = {}
        return self.scorer.handle_batch(raws, self.deps(UserCaps(self.view)))


def plain(out: S.Outcome) -> dict:
    """An Outcome as data, timings left out (the only field a batch fills differently)."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "timings_ms"}
        return [strip(x) for x in v] if isinstance(v, list) else v
    return {"response": None if out.response is None else strip(json.loads(out.response.to_json())),
            "served": None if out.served is None else strip(json.loads(out.served.to_json())),
            "dead_letter": None if out.dead_letter is None else json.loads(out.dead_letter.to_json()),
            "counts": (out.reasons, out.candidates, out.capped, out.paced, out.explored)}


def test_batches_answer_every_request_as_one_by_one_does():
    raws = requests(random.Random(5), 400)
    single, batched = World(1), World(1)
    rng, at, k, got, want = random.Random(9), 0, 0, [], []
    while at < len(raws):
        chunk = raws[at:at + rng.choice([1, 2, 5, 8, 16, 32])]
        at, k = at + len(chunk), k + 1
        for w in (single, batched):
            w.store.down = k == 4                              # an outage for this batch's reads
            if k == 6:
                w.breaker.failure()                           # the breaker opens for this batch ...
                w.breaker.opened_at = 0.0
            elif k == 7:
                w.breaker.success()                           # ... and closes after it
        want += [single.one(raw) for raw in chunk]
        got += batched.batch(chunk)
    assert len(got) == len(want) == len(raws)
    for i, (g, w) in enumerate(zip(got, want)):
        assert plain(g) == plain(w), f"request {i} ({raws[i][:60]!r}) differs"
    kept = lambda w: {u: st for u, st in w.states.items() if st}   # noqa: E731
    assert kept(single) == kept(batched) and kept(single)       # the caps each side kept, too
    # the stream did exercise what it was built for
    reasons = [r for o in want for r in o.reasons]
    for r in (S.INVALID, S.INTERNAL, S.ANONYMOUS, S.NO_CONSENT, S.UNKNOWN_USER, S.PROFILE_EXPIRED,
              S.PROFILE_TIMEOUT, S.PROFILE_SKIPPED, S.MODEL_ERROR):
        assert r in reasons, r
    assert sum(o.capped for o in want) > 20 and sum(o.explored for o in want) > 0
    assert any(o.response is None for o in want)               # no id to answer: dead letter only
    assert {o.response.model_version for o in want if o.response and o.response.ads} >= {"v-test", "v-pinned"}
    # one round trip per batch that read at all, and mostly one model call per batch, not per request
    assert batched.store.round_trips < single.store.round_trips / 3
    assert batched.model.calls < single.model.calls * 0.8
    assert sum(n > 10 for n in batched.model.rows) >= 15      # calls over several requests' rows


def test_a_users_second_request_in_a_batch_sees_what_the_first_was_served():
    w = World(2)
    raw = [AdRequest(request_id=f"q{i}", user_id="u7", ts=T0, slot="home_top", num_ads=3,
                     consent=Consent(personalisation=True), context=RequestContext(geo="DE")).encode()
           for i in range(3)]
    first, second, third = w.batch(raw)
    shown = [a.creative_id for a in first.response.ads]
    assert shown and not set(shown) & {a.creative_id for a in second.response.ads}   # creative cap 1/h
    assert second.capped >= len(shown) and third.capped > second.capped


def test_a_failed_batch_read_is_one_failure_every_request_falls_back_from():
    w = World(3)
    w.store.down = True
    raws = [AdRequest(request_id=f"q{i}", user_id=f"u{i}", ts=T0, slot="home_top", num_ads=2,
                      consent=Consent(personalisation=True)).encode() for i in range(5)]
    outs = w.batch(raws)
    assert [o.reasons[:1] for o in outs] == [(S.PROFILE_TIMEOUT,)] * 5
    assert all(o.response.fallback and o.response.ads for o in outs)   # contextual answers, all of them
    assert w.breaker.failures == 1 and w.store.round_trips == 1


def test_shared_stages_are_divided_and_total_is_the_sum_of_a_requests_stages():
    w = World(4)
    raws = [AdRequest(request_id=f"q{i}", user_id=f"u{i}", ts=T0, slot="home_top", num_ads=2,
                      consent=Consent(personalisation=True), context=RequestContext(geo="DE")).encode()
            for i in range(4)]
    ticks = iter(range(10_000))
    w.scorer.clock = lambda: next(ticks) / 1000.0      # each clock read: one more millisecond
    outs = w.batch(raws)
    t = [o.response.timings_ms for o in outs]
    assert len({x["features"] for x in t}) == 1                        # one read, shared equally
    for x in t:
        assert {"decode", "features", "eligible", "caps", "featurize", "model", "auction"} <= set(x)
        assert x["total"] == pytest.approx(sum(v for k, v in x.items() if k != "total"), abs=0.01)


class ShortModel(Model):
    """Right for one request's rows (at most the catalogue's 10), too few scores for more; the
    poison row does it no harm (so the batch's calls get as far as returning)."""

    def score(self, X):
        self.calls += 1
        return (X[:, PRICE] / self.scale).astype(np.float32)[:10]


def test_a_model_call_the_batch_cannot_use_leaves_each_request_to_score_alone():
    raws = [r for r in requests(random.Random(6), 60)]
    single, batched = World(5), World(5)
    for w in (single, batched):
        w.model = ShortModel("v-test", 1000.0)
    want = [single.one(raw) for raw in raws]
    got = [o for at in range(0, len(raws), 12) for o in batched.batch(raws[at:at + 12])]
    assert [plain(o) for o in got] == [plain(o) for o in want]
    ranked = [o for o in want if o.response and o.response.model_version == "v-test"
              and S.MODEL_ERROR not in o.reasons]
    assert len(ranked) > 20                                   # the model's own answers, not its failures
    assert batched.model.calls > len(raws) / 12 * 2          # the batches' calls, then one per request
    assert batched.scorer.handle_batch([], batched.deps(UserCaps(batched.view))) == []
