"""The scoring job's pure parts: feature-store breaker, model hot reload, live catalogue keeper."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from udfs.core import scoring as S
from udfs.core.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, GuardedProfiles
from udfs.core.budget import UnlimitedBudget
from udfs.io.catalog_feed import CatalogKeeper
from udfs.config import ReviewPolicy
from udfs.messages.ad_request import RequestContext
from udfs.core.model_watch import FAILED, LOADED, ModelWatcher
from udfs.core.targeting import eligible

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# ------------------------------------------------------------------ breaker

def test_breaker_opens_after_n_failures_skips_then_half_opens():
    clock = Clock()
    b = CircuitBreaker(3, 1000, clock)
    for _ in range(2):
        b.failure()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == OPEN and not b.allow() and b.times_opened == 1
    clock.t = 999
    assert not b.allow()
    clock.t = 1000
    assert b.state == HALF_OPEN and b.allow()
    b.failure()                                   # the trial failed: a full cool-down again
    assert b.state == OPEN and b.times_opened == 2
    clock.t = 2000
    b.success()
    assert b.state == CLOSED and b.failures == 0


def test_guarded_profiles_classify_and_feed_the_breaker():
    class RedisTimeoutError(Exception):        # named like redis.exceptions.TimeoutError
        pass

    clock, calls, logs = Clock(), [], []

    def read(uid):
        calls.append(uid)
        if uid == "ok":
            return {"x": 1}
        raise {"t": RedisTimeoutError("read"), "e": ConnectionError("refused")}[uid]

    g = GuardedProfiles(read, CircuitBreaker(3, 1000, clock), logs.append)
    with pytest.raises(S.ProfileUnavailable) as e:
        g.read("t")
    assert e.value.kind == S.PROFILE_TIMEOUT
    with pytest.raises(S.ProfileUnavailable) as e:
        g.read("e")
    assert e.value.kind == S.PROFILE_ERROR and "refused" in e.value.detail
    assert g.read("ok") == {"x": 1} and g.breaker.failures == 0     # a success resets the count
    for _ in range(3):
        with pytest.raises(S.ProfileUnavailable):
            g.read("e")
    assert len(logs) == 1 and "skipping it for 1000 ms" in logs[0]
    with pytest.raises(S.ProfileUnavailable) as e:
        g.read("ok")
    assert e.value.kind == S.PROFILE_SKIPPED and calls.count("ok") == 1   # not even tried
    clock.t = 1000
    assert g.read("ok") == {"x": 1} and g.breaker.state == CLOSED


# ------------------------------------------------------------------ model hot reload

class Loaded:
    def __init__(self, path: Path):
        text = (path / "model.onnx").read_text()
        if text == "corrupt":
            raise ValueError("not an ONNX graph")
        self.version = path.name


def promote(root: Path, version: str, content: str = "ok") -> None:
    d = root / version
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_text(content)
    (d / "signature.json").write_text("{}")
    tmp = root / ".current.tmp"
    tmp.write_text(json.dumps({"version": version}))
    os.replace(tmp, root / "current")


def watcher(root: Path, clock, logs):
    def resolve():
        p = root / "current"
        return root / json.loads(p.read_text())["version"] if p.exists() else None
    return ModelWatcher(root / "current", resolve, Loaded, 500, clock, logs.append)


def test_watcher_loads_swaps_and_keeps_the_old_model_on_a_broken_one(tmp_path):
    clock, logs = Clock(), []
    w = watcher(tmp_path, clock, logs)
    assert w.poll() is None and w.model is None            # nothing promoted yet
    promote(tmp_path, "v0001-aaaaaaaa")
    assert w.poll() is None                                  # not yet time to look
    clock.t = 500
    assert w.poll() == LOADED and w.model.version == "v0001-aaaaaaaa"
    clock.t = 1000
    assert w.poll() is None and w.reloads == 1              # unchanged: no reload
    promote(tmp_path, "v0002-bbbbbbbb", "corrupt")
    clock.t = 1500
    assert w.poll() == FAILED and w.model.version == "v0001-aaaaaaaa"
    assert "keeping v0001-aaaaaaaa" in logs[-1] and "not an ONNX graph" in logs[-1]
    clock.t = 2000
    assert w.poll() is None and w.failures == 1             # logged once, not on every poll
    (tmp_path / "v0002-bbbbbbbb" / "model.onnx").write_text("fixed!")   # repaired in place
    clock.t = 2500
    assert w.poll() == LOADED and w.model.version == "v0002-bbbbbbbb" and w.reloads == 2
    assert w.last_error is None


def test_watcher_forgets_the_failure_when_the_pointer_returns_to_the_model_it_serves(tmp_path):
    clock, logs = Clock(), []
    promote(tmp_path, "v0001-aaaaaaaa")
    w = watcher(tmp_path, clock, logs)
    assert w.poll(force=True) == LOADED
    saved = (tmp_path / "current").read_text()
    promote(tmp_path, "v0002-bbbbbbbb", "corrupt")
    clock.t = 500
    assert w.poll() == FAILED and w.last_error and w.model.version == "v0001-aaaaaaaa"
    (tmp_path / "current").write_text(saved)                 # rolled back by hand
    clock.t = 1000
    assert w.poll() is None and w.last_error is None        # answers stop saying "stale"


def test_watcher_without_a_loadable_model_serves_none(tmp_path):
    clock, logs = Clock(), []
    promote(tmp_path, "v0001-aaaaaaaa", "corrupt")
    w = watcher(tmp_path, clock, logs)
    assert w.poll(force=True) == FAILED and w.model is None and "prior-CTR" in logs[-1]
    (tmp_path / "current").unlink()
    clock.t = 1000
    assert w.poll() is None and w.model is None


# ------------------------------------------------------------------ catalogue keeper

POLICY = ReviewPolicy(3, 90, ("casino",))


def doc():
    return {"advertisers": [{"advertiser_id": "A"}],
            "campaigns": [{"campaign_id": "c1", "advertiser_id": "A", "daily_budget": 10.0,
                           "bid_type": "CPM", "bid": 2.0}],
            "creatives": [{"creative_id": "k1", "ad_id": "a1", "campaign_id": "c1", "advertiser_id": "A",
                           "category_id": "c", "title": "Shoes on sale", "landing_url": "https://s.example",
                           "review_status": "pending"},
                          {"creative_id": "k2", "ad_id": "a2", "campaign_id": "c1", "advertiser_id": "A",
                           "category_id": "c", "title": "Casino night", "landing_url": "https://s.example",
                           "review_status": "pending"}]}


def servable(k: CatalogKeeper) -> list[str]:
    sel = eligible(k.catalog, RequestContext(), None, 1_764_547_200_000, UnlimitedBudget())
    return [c.creative_id for c in sel.creatives]


def test_keeper_reviews_the_file_and_follows_changes(tmp_path):
    logs = []
    k = CatalogKeeper(POLICY, "ads.catalog", wall_ms=lambda: 7, log=logs.append)
    (tmp_path / "cat.json").write_text(json.dumps(doc()))
    assert k.load_file(tmp_path / "cat.json") == 4
    assert servable(k) == ["k1"] and k.rejected == 1
    assert k.catalog.creative("k2").review_reason == "blocked term 'casino' in title"
    # a new pending creative is reviewed on arrival; a pause and a tombstone take effect
    new = {**doc()["creatives"][0], "creative_id": "k3", "ad_id": "a3"}
    assert k.apply(b"creative:k3", json.dumps(new).encode()) is None
    assert servable(k) == ["k1", "k3"] and k.catalog.creative("k3").review_status == "approved"
    assert k.apply(b"creative:k1", None) is None
    assert servable(k) == ["k3"]
    camp = {**doc()["campaigns"][0], "status": "paused"}
    assert k.apply(b"campaign:c1", json.dumps(camp).encode()) is None
    assert servable(k) == [] and k.applied == 3


def test_keeper_turns_a_bad_record_into_a_dead_letter_and_changes_nothing():
    k = CatalogKeeper(POLICY, "ads.catalog", wall_ms=lambda: 7)
    before = k.catalog.version
    for key, value in ((b"campaign:c9", b'{"advertiser_id": "A", "bid_type": "CPX", "bid": 1, '
                                        b'"daily_budget": 1}'),
                       (b"nokind", b"{}"), (None, b"{}"), (b"creative:z", b"{oops")):
        dl = k.apply(key, value)
        assert dl is not None and dl.kind == "invalid" and dl.source_topic == "ads.catalog" and dl.ts == 7
    assert k.invalid == 4 and k.catalog.version == before
    assert "bid_type" in k.apply(b"campaign:c9", b'{"advertiser_id": "A", "bid_type": "CPX", "bid": 1, '
                                                  b'"daily_budget": 1}').reason


# ------------------------------------------------------------------ exact shortcuts

def _random_catalog(rng: random.Random):
    from udfs.core.catalog import Advertiser, Campaign, Catalog, Creative, Schedule, Targeting
    cat = Catalog()
    for a in range(4):
        cat.put(Advertiser(advertiser_id=f"a{a}", status=rng.choice(["active"] * 4 + ["suspended"])))
    for c in range(25):
        pick = lambda xs: tuple(rng.sample(xs, rng.randint(1, 2))) if rng.random() < 0.4 else ()
        start = T0 + rng.randint(-5, 5) * HOUR if rng.random() < 0.3 else None
        end = (start or T0) + rng.randint(1, 8) * HOUR if rng.random() < 0.3 else None
        cat.put(Campaign(campaign_id=f"c{c}", advertiser_id=f"a{c % 4}", daily_budget=rng.choice([0.0, 5.0]),
                         status=rng.choice(["active"] * 5 + ["paused"]), bid_type="CPM", bid=1.0,
                         targeting=Targeting(geos=pick(["DE", "FR"]), devices=pick(["mobile", "app"]),
                                             age_bands=pick(["18-24", "25-34"]), genders=pick(["f", "m"]),
                                             interests=pick(["k1", "k2", "k3"]),
                                             segments=tuple(pick([0, 1, 2]))),
                         schedule=Schedule(hours=tuple(sorted(rng.sample(range(24), 8))) if rng.random() < 0.3
                                           else (), start_ts=start, end_ts=end)))
        cat.put(Creative(creative_id=f"x{c}", ad_id=f"x{c}", campaign_id=f"c{c}", advertiser_id=f"a{c % 4}",
                         review_status=rng.choice(["approved"] * 4 + ["pending"])))
    return cat


T0 = 1_764_547_200_000
HOUR = 3_600_000


def test_eligibility_cache_equals_direct_selection():
    from udfs.core.budget import SpendLedger
    from udfs.core.eligibility_cache import EligibilityCache, StaticCatalogBudget
    from udfs.core.targeting import UserAttrs
    rng = random.Random(3)
    cache = EligibilityCache(max_entries=64)
    for round_ in range(5):
        cat = _random_catalog(rng)
        budget = StaticCatalogBudget(cat, SpendLedger())
        for i in range(400):
            ctx = RequestContext(device=rng.choice(["mobile", "app", "desktop"]), geo=rng.choice(["", "DE", "FR"]))
            user = rng.choice([None, UserAttrs(age_band=rng.choice([None, "18-24", "25-34"]),
                                               gender=rng.choice([None, "f", "m"]),
                                               top_categories=rng.choice([None, ("k1",), ("k2", "k9"), ("k9",)]),
                                               geo=rng.choice([None, "DE", "FR"]),
                                               segment_id=rng.choice([None, 0, 1, 3]))])
            now = T0 + rng.randint(-6 * HOUR, 30 * HOUR)
            got = cache.select(cat, ctx, user, now, budget)
            want = eligible(cat, ctx, user, now, budget)
            assert [c.creative_id for c in got.creatives] == [c.creative_id for c in want.creatives]
            assert got.excluded == want.excluded
            if i == 200:                       # a change mid-stream must not serve a stale answer
                cat.remove("campaign", f"c{rng.randrange(25)}")
    assert cache.hits > 0 and cache.misses > 0
    budget.ledger.add("c1", 1.0, T0)           # spend makes answers move: no caching at all
    hits = cache.hits
    cache.select(cat, RequestContext(), None, T0, budget)
    cache.select(cat, RequestContext(), None, T0, budget)
    assert cache.hits == hits


def test_dict_caps_filter_equals_frequency_caps_filter():
    from udfs.core.caps import FrequencyCaps
    from udfs.core.catalog import Creative
    from udfs.config import CapRule
    caps = FrequencyCaps((CapRule(3600, 2), CapRule(86400, 4)), (CapRule(600, 1),))
    crs = [Creative(creative_id=f"k{i}", ad_id=f"k{i}", campaign_id=f"c{i % 5}", advertiser_id="A")
           for i in range(20)]
    rng = random.Random(5)
    state: dict = {}
    view = S.DictCaps(caps, state)
    for step in range(300):
        now = T0 + step * 97_000
        kept, capped = view.filter("u1", crs, now)
        want = caps.filter(state, "u1", crs, now)
        assert ([c.creative_id for c in kept], capped) == ([c.creative_id for c in want[0]], want[1])
        view.record("u1", rng.sample(kept, min(len(kept), 3)), now)
        # users whose keys share a prefix with u1's must not leak into its answer
        view.record(rng.choice(["u10", "u1|c1", "u"]), rng.sample(crs, 2), now)
    assert view.filter(None, crs, T0) == (crs, 0)
