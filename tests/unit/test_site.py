"""The site simulator's draws: deterministic by seed, fault shares and CTR as configured,
every event linked to the one before it, the join of requests and answers."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from models.datasets import world_layout as layout
from scripts.synth import generate, oracle
from scripts.synth.site import Join, Site, SiteWorld
from scripts.synth.writer import write
from udfs import config
from udfs.errors import ConfigError
from udfs.messages import AdRequest, ClickEvent, RankedAd, RankedAds
from udfs.messages.base import replace

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("site-world")
    write(generate(config.load("test").generator, 5), d)
    return d


@pytest.fixture(scope="module")
def world(world_dir):
    return SiteWorld.load(world_dir)


def params(**changes):
    return dataclasses.replace(config.load("test").site, **changes)  # a config section: a dataclass


def answers(world_dir, world, rounds: int = 1, seed: int = 0):
    """The world's own requests (fresh ids per round), each answered with random known creatives."""
    reqs = [AdRequest.decode(line) for line in layout.stream(world_dir, "requests").read_text().splitlines()]
    camp = pd.read_parquet(layout.table(world_dir, "creatives"), columns=["creative_id", "campaign_id", "ad_id"])
    ids = camp.to_dict("records")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(rounds):
        for r in reqs:
            req = replace(r, request_id=f"{r.request_id}-{k}")
            pick = rng.choice(len(ids), size=min(r.num_ads, len(ids)), replace=False)
            ads = tuple(RankedAd(ad_id=ids[i]["ad_id"], campaign_id=ids[i]["campaign_id"],
                                 creative_id=ids[i]["creative_id"], advertiser_id="adv", rank=j + 1,
                                 pctr=0.02, ecpm=2.0, price=1.5) for j, i in enumerate(pick))
            out.append((req, RankedAds(request_id=req.request_id, ts=r.ts + 7, ads=ads, model_version="v1")))
    return out


def run(world, pairs, **changes):
    site = Site(world, params(**changes))
    return site, [o for q, a in pairs for o in site.serve(q, a)]


def wire(out):
    return sorted((o.topic, o.message.encode(), o.send_at_ms, o.tag) for o in out)


def test_the_same_seed_gives_the_same_events_whatever_the_order(world_dir, world):
    pairs = answers(world_dir, world)[:400]
    _, a = run(world, pairs, seed=3, duplicate_share=0.1, late_share=0.1, orphan_share=0.2)
    _, b = run(world, pairs[::-1], seed=3, duplicate_share=0.1, late_share=0.1, orphan_share=0.2)
    _, c = run(world, pairs, seed=4, duplicate_share=0.1, late_share=0.1, orphan_share=0.2)
    assert wire(a) == wire(b) and len(a) > 400
    assert wire(a) != wire(c)


def test_shown_ads_are_the_first_num_ads_at_positions_one_to_n(world_dir, world):
    req, ans = answers(world_dir, world)[0]
    extra = ans.ads + tuple(replace(ans.ads[0], rank=len(ans.ads) + i + 1) for i in range(3))
    ans = replace(ans, ads=extra)
    site, out = run(world, [(req, ans)], duplicate_share=0, late_share=0, orphan_share=0)
    imps = [o.message for o in out if o.topic == "impressions"]
    assert [i.position for i in imps] == list(range(1, req.num_ads + 1))
    assert [i.creative_id for i in imps] == [a.creative_id for a in ans.ads[:req.num_ads]]
    assert all(i.ts == ans.ts and i.request_id == req.request_id and i.user_id == req.user_id for i in imps)


def test_fault_shares_match_the_config(world_dir, world):
    pairs = answers(world_dir, world, rounds=4)
    site, out = run(world, pairs, duplicate_share=0.2, late_share=0.1, orphan_share=0.3)
    t = site.tally
    events = t.impressions + t.clicks + t.conversions
    for got, n, p in ((t.duplicates, events, 0.2), (t.late, events, 0.1), (t.orphans, t.clicks, 0.3)):
        assert n > 50
        assert abs(got - n * p) <= 4 * math.sqrt(n * p * (1 - p)), (got, n, p)
    assert sum(o.tag == "duplicate" for o in out) == t.duplicates
    assert sum(o.tag == "late" for o in out) == t.late
    late = [o for o in out if o.tag == "late"]
    assert all(o.send_at_ms == o.message.ts + 120_000 for o in late)
    assert t.impressions + t.orphans == t.shown


def test_ctr_of_the_draws_is_the_oracles(world_dir, world):
    pairs = answers(world_dir, world, rounds=6)
    site, out = run(world, pairs)
    t = site.tally
    mean_p = t.expected_clicks / t.shown
    assert 0.005 < mean_p < 0.08                         # the oracle's range on random ads
    sd = math.sqrt(t.shown * mean_p * (1 - mean_p))
    assert abs(t.clicks - t.expected_clicks) <= 4 * sd, (t.clicks, t.expected_clicks)
    # and expected_clicks is the oracle's own figure: recomputed with its UserState.at on the events
    ev = pd.read_parquet(layout.table(world_dir, "events"))
    users = pd.read_parquet(layout.table(world_dir, "users")).set_index("user_id")["latent_clickiness"]
    cr = pd.read_parquet(layout.table(world_dir, "creatives")).set_index("creative_id")
    by_user = {u: [ClickEvent(event_id="e", user_id=u, ts=int(r.ts), type=r.type, item_id="i",
                              category_id=r.category_id, brand_id=r.brand_id,
                              price=None if pd.isna(r.price) else float(r.price), query="q")
                   for r in g.itertuples()] for u, g in ev.groupby("user_id")}
    probe = Site(world, params())
    for req, ans in pairs[:40]:
        before = probe.tally.expected_clicks
        probe.serve(req, ans)
        want = 0.0
        for pos, a in enumerate(ans.ads[:req.num_ads], 1):
            c = cr.loc[a.creative_id]
            ad = oracle.Context(req.context.device, pos, req.ts // 3_600_000 % 24, req.context.page_category)
            state = oracle.UserState.at(by_user.get(req.user_id, []), req.ts)
            user = None if req.user_id is None else type("U", (), {"clickiness": float(users[req.user_id])})
            want += oracle.p_click(user, type("C", (), {"category_id": c.category_id, "brand_id": c.brand_id,
                                                        "price": float(c.price),
                                                        "quality": float(c.latent_quality)}), ad, state)
        assert probe.tally.expected_clicks - before == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_every_event_links_back_and_comes_after_what_it_follows(world_dir, world):
    site, out = run(world, answers(world_dir, world, rounds=3), orphan_share=0.3, duplicate_share=0.05)
    imps = {o.message.impression_id: o.message for o in out if o.topic == "impressions"}
    clicks = {o.message.click_id: o.message for o in out if o.topic == "ad_clicks"}
    convs = [o.message for o in out if o.topic == "conversions"]
    orphans = [c for c in clicks.values() if c.impression_id not in imps]
    assert len(orphans) == site.tally.orphans > 0 and len(clicks) == site.tally.clicks
    assert len(convs) >= site.tally.conversions > 0
    p = params()
    for c in clicks.values():
        if c.impression_id in imps:
            i = imps[c.impression_id]
            assert 1 <= c.ts - i.ts <= p.click_delay_max_s * 1000 / p.time_compression + 1
            assert (c.request_id, c.ad_id, c.campaign_id) == (i.request_id, i.ad_id, i.campaign_id)
    for v in convs:
        k = clicks[v.click_id]
        assert v.impression_id == k.impression_id and 1 <= v.ts - k.ts
        assert v.ts - k.ts <= p.conversion_delay_max_s * 1000 / p.time_compression + 1 and v.value > 0
    for o in out:   # keyed by request id, conversions too (they carry no request id of their own)
        assert o.key == (o.message.request_id if o.topic != "conversions"
                         else clicks[o.message.click_id].request_id).encode()
    ids = [o.message.impression_id for o in out if o.topic == "impressions" and o.tag != "duplicate"]
    assert len(ids) == len(set(ids)) == site.tally.impressions


def test_impression_price_is_charged_only_for_cpm(world_dir, world):
    bid = pd.read_parquet(layout.table(world_dir, "campaigns")).set_index("campaign_id")["bid_type"]
    _, out = run(world, answers(world_dir, world)[:300], orphan_share=0, duplicate_share=0)
    imps = [o.message for o in out if o.topic == "impressions"]
    assert {bid[i.campaign_id] for i in imps} >= {"CPM", "CPC"}
    for i in imps:
        assert i.price == (1.5 / 1000.0 if bid[i.campaign_id] == "CPM" else 0.0)


def test_an_unknown_creative_is_counted_and_not_shown(world_dir, world):
    req, ans = answers(world_dir, world)[0]
    stranger = replace(ans.ads[0], creative_id="cr-nobody")
    ans = replace(ans, ads=(stranger,) + tuple(replace(a, rank=a.rank + 1) for a in ans.ads))
    site, out = run(world, [(req, ans)], orphan_share=0)
    assert site.tally.unknown_ads == 1 and "cr-nobody" not in {o.message.creative_id for o in out
                                                                if o.topic == "impressions"}
    with pytest.raises(ValueError, match="not for request"):
        site.serve(replace(req, request_id="other"), ans)


def test_the_join_pairs_either_order_and_drops_what_waits_too_long():
    j = Join(wait_ms=1000, max_waiting=3)
    req = AdRequest(request_id="r1", user_id=None, ts=1, slot="feed", num_ads=1)
    ans = RankedAds(request_id="r1", ts=2, ads=(), model_version="none")
    assert j.request(req, 0) is None and j.answer(ans, 10) == (req, ans)
    assert j.answer(replace(ans, request_id="r2"), 0) is None
    assert j.request(replace(req, request_id="r2"), 5)[0].request_id == "r2"
    j.request(replace(req, request_id="r3"), 0)
    j.answer(replace(ans, request_id="r4"), 500)
    j.expire(1200)
    assert (j.unanswered, j.unmatched, j.waiting) == (1, 0, 1)
    for i in range(5):
        j.request(replace(req, request_id=f"q{i}"), 1300 + i)
    assert j.waiting == 3 and j.unmatched == 1 and j.unanswered == 1 + 2


def test_site_config_is_checked():
    with pytest.raises(ConfigError, match="site.late_share"):
        config.load("test", overrides=["site.late_share=1.5"])
    with pytest.raises(ConfigError, match="site.time_compression"):
        config.load("test", overrides=["site.time_compression=0"])
    assert config.load("test", overrides=["site.orphan_share=0.5"]).site.orphan_share == 0.5


def test_the_command_explains_itself_and_wants_a_stop(capsys):
    from scripts.cli import main
    with pytest.raises(SystemExit) as e:
        main(["site", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("--max-answers", "--idle", "--drain", "duplicates", "orphan", "site.KEY", "request id"):
        assert word in text
    assert main(["--env", "test", "site"]) == 2
    assert "give --max-answers, --duration or --idle" in capsys.readouterr().err
