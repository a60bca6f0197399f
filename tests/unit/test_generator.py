"""The synthetic world: determinism, promised shapes, linked ids, valid wire output, honest oracle."""
import json
import re
import time

import numpy as np
import pytest

from scripts import cli
from models.datasets import world_layout as layout
from scripts.synth import generate, metrics, oracle, writer
from scripts.synth.policy import SLOTS
from scripts.synth.stream import DAY_MS
from scripts.synth.tables import hour_of
from udfs import config
from udfs.core.catalog import Catalog

pytestmark = pytest.mark.unit

SMALL = dict(users=60, items=200, events=1500, requests=200, days=2)


@pytest.fixture(scope="module")
def cfg():
    return config.load("test", environ={})


@pytest.fixture(scope="module")
def world(cfg):
    """The test-config world (200 users, 5000 events, 500 requests)."""
    return generate(cfg.generator)


@pytest.fixture(scope="module")
def big(cfg):
    """More traffic, for rates that need numbers."""
    return generate(cfg.generator, users=400, events=20000, requests=4000, days=4)


@pytest.fixture(scope="module")
def small(cfg):
    return generate(cfg.generator, seed=7, **SMALL)


@pytest.fixture(scope="module")
def small_dir(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    writer.write(small, out, validate=True)
    return out


# ----------------------------------------------------------------- determinism

def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_same_seed_gives_byte_identical_files(cfg, small_dir, tmp_path):
    again = generate(cfg.generator, seed=7, **SMALL)
    writer.write(again, tmp_path)
    a, b = _files(small_dir), _files(tmp_path)
    assert sorted(a) == sorted(b)
    assert len(a) == writer.file_count()
    for name in a:
        assert a[name] == b[name], name


def test_different_seed_gives_different_world(cfg, small, tmp_path):
    other = generate(cfg.generator, seed=8, **SMALL)
    assert [u.interests for u in other.static.users] != [u.interests for u in small.static.users]
    assert not other.streams.events["ts"].equals(small.streams.events["ts"])
    assert (list(writer.wire_records(other, "events"))[:50]
            != list(writer.wire_records(small, "events"))[:50])


def test_seed_defaults_to_config_and_overrides_apply(cfg, world):
    g = cfg.generator
    assert world.seed == g.seed
    assert len(world.static.users) == g.users and len(world.static.items) == g.items
    assert len(world.streams.events) == g.events
    assert len(world.streams.requests) == g.requests
    assert len(world.static.campaigns) == g.campaigns
    assert len(world.static.advertisers) == g.advertisers


def test_test_world_is_fast(cfg):
    t = time.perf_counter()
    generate(cfg.generator)
    assert time.perf_counter() - t < 10


# ----------------------------------------------------------------- ids and shapes

ID_PATTERNS = {"user_id": r"u\d{6}", "item_id": r"i\d{5}", "category_id": r"c\d{3}",
               "brand_id": r"b\d{3}", "advertiser_id": r"adv\d{2}", "campaign_id": r"cmp\d{4}",
               "creative_id": r"cr\d{5}", "ad_id": r"ad\d{5}"}


def test_id_formats(world):
    s = world.static
    pairs = ([("user_id", u.user_id) for u in s.users] + [("item_id", i.item_id) for i in s.items]
             + [("category_id", c.category_id) for c in s.categories]
             + [("brand_id", b.brand_id) for b in s.brands]
             + [("advertiser_id", a.advertiser_id) for a in s.advertisers]
             + [("campaign_id", c.campaign_id) for c in s.campaigns]
             + [("creative_id", c.creative_id) for c in s.creatives]
             + [("ad_id", c.ad_id) for c in s.creatives])
    for kind, value in pairs:
        assert re.fullmatch(ID_PATTERNS[kind], value), (kind, value)
    assert len({c.ad_id for c in s.creatives}) == len(s.creatives)


def test_user_attributes_and_sparse_interests(world):
    for u in world.static.users:
        assert u.age_band in ("18-24", "25-34", "35-44", "45-54", "55+")
        assert u.gender in ("f", "m", "u") and u.device in ("mobile", "desktop", "tablet", "app")
        weights = [w for _, w in u.interests]
        assert 1 <= len(weights) <= 10 and abs(sum(weights) - 1) < 1e-4
    sizes = [len(u.interests) for u in world.static.users]
    assert np.mean(sizes) < 0.2 * len(world.static.categories)   # sparse


def test_activity_is_power_law(world):
    ev = world.streams.events
    per_user = ev["user_id"].value_counts().reindex([u.user_id for u in world.static.users],
                                                    fill_value=0).to_numpy()
    per_user = np.sort(per_user)[::-1]
    top = per_user[: len(per_user) // 10].sum() / per_user.sum()
    assert top > 0.35          # a tenth of the users make over a third of the events
    assert per_user[0] < 0.2 * per_user.sum()   # but nobody owns the site


def test_item_popularity_is_skewed(world):
    views = world.streams.events.query("type == 'view'")["item_id"].value_counts()
    views = views.reindex([i.item_id for i in world.static.items], fill_value=0).to_numpy()
    views = np.sort(views)[::-1]
    assert views[: len(views) // 10].sum() / views.sum() > 0.35
    assert (views == 0).mean() > 0.1    # a long tail nobody looked at


def test_funnel_ratios(big):
    ev = big.streams.events
    n = ev["type"].value_counts()
    assert n["view"] > n["cart"] > n["purchase"] > 0
    assert n["view"] > n["fav"] > 0 and n["search"] > 0
    assert 0.03 < n["cart"] / n["view"] < 0.1
    assert 0.15 < n["purchase"] / n["cart"] < 0.5
    assert 0.7 < n["view"] / len(ev) < 0.95


def test_purchases_follow_a_cart_of_the_same_item(world):
    ev = world.streams.events
    carts = ev[ev["type"] == "cart"].groupby(["user_id", "item_id"])["ts"].min()
    buys = ev[ev["type"] == "purchase"]
    assert len(buys)
    for row in buys.itertuples():
        assert carts.get((row.user_id, row.item_id), np.inf) < row.ts
    assert buys["price"].gt(0).all()


def test_event_fields_are_consistent(world):
    ev = world.streams.events
    items = {i.item_id: i for i in world.static.items}
    item_rows = ev[ev["type"] != "search"]
    assert item_rows["item_id"].notna().all() and item_rows["price"].notna().all()
    for row in item_rows.head(500).itertuples():
        it = items[row.item_id]
        assert (row.category_id, row.brand_id, row.price) == (it.category_id, it.brand_id, it.price)
    searches = ev[ev["type"] == "search"]
    names = {c.category_id: c.name for c in world.static.categories}
    for row in searches.itertuples():
        assert row.item_id is None and names[row.category_id] in row.query


def test_diurnal_rhythm(world):
    hours = hour_of(world.streams.events["ts"].to_numpy())
    per_hour = np.bincount(hours, minlength=24)
    night = per_hour[1:6].mean()
    day = per_hour[12:22].mean()
    assert night < 0.4 * day


def test_streams_are_time_ordered_within_the_window(world, cfg):
    g = cfg.generator
    for name in ("events", "requests", "impressions", "ad_clicks", "conversions"):
        ts = getattr(world.streams, name)["ts"].to_numpy()
        assert (np.diff(ts) >= 0).all(), name
    ev = world.streams.events["ts"]
    assert ev.min() >= g.start_ts_ms - 5000
    assert ev.max() < g.start_ts_ms + (g.days + 1) * DAY_MS
    # sessions: consecutive events of a user in one session are seconds apart, not hours
    gaps = world.streams.events.groupby("session_id")["ts"].diff().dropna()
    assert gaps.median() < 120_000


# ----------------------------------------------------------------- ads

def test_ctr_in_promised_range_and_matches_oracle(big):
    im = big.streams.impressions
    p = im["p_click_oracle"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert ((im["p_convert_oracle"] >= 0) & (im["p_convert_oracle"] <= 1)).all()
    ctr = im["clicked"].mean()
    assert 0.01 <= ctr <= 0.05
    sigma = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(ctr - p.mean()) < 4 * sigma
    auc = metrics.auc(im["clicked"], p)
    assert 0.65 < auc < 0.95


def test_conversions_only_after_clicks(big):
    s = big.streams
    im = s.impressions
    assert not (im["converted"] & ~im["clicked"]).any()
    clicks = s.ad_clicks.set_index("click_id")
    assert s.conversions["click_id"].isin(clicks.index).all()
    for row in s.conversions.itertuples():
        click = clicks.loc[row.click_id]
        assert row.ts > click.ts and row.impression_id == click.impression_id
        assert row.user_id == click.user_id and row.campaign_id == click.campaign_id
        assert row.value > 0
    assert 0 < len(s.conversions) < len(s.ad_clicks)


def test_ids_link(world):
    s, st = world.streams, world.static
    requests = s.requests.set_index("request_id")
    impressions = s.impressions.set_index("impression_id")
    creatives = {c.creative_id: c for c in st.creatives}
    campaigns = {c.campaign_id: c for c in st.campaigns}
    assert s.requests["request_id"].is_unique and impressions.index.is_unique
    assert s.events["event_id"].is_unique
    for row in s.impressions.itertuples():
        req = requests.loc[row.request_id]
        assert row.user_id == req.user_id and row.ts >= req.ts
        cr = creatives[row.creative_id]
        assert (cr.ad_id, cr.campaign_id, cr.advertiser_id) == (row.ad_id, row.campaign_id,
                                                                 row.advertiser_id)
        assert cr.review_status == "approved" and campaigns[cr.campaign_id].status == "active"
    for row in s.ad_clicks.itertuples():
        imp = impressions.loc[row.impression_id]
        assert imp.clicked and imp.click_id == row.click_id
        assert (imp.request_id, imp.user_id, imp.ad_id, imp.campaign_id) == (
            row.request_id, row.user_id, row.ad_id, row.campaign_id)
        assert row.ts > imp.ts
    assert s.impressions["clicked"].sum() == len(s.ad_clicks)


def test_positions_fill_the_slot(world):
    im, rq = world.streams.impressions, world.streams.requests.set_index("request_id")
    for rid, group in im.groupby("request_id"):
        req = rq.loc[rid]
        assert list(group["position"]) == list(range(1, len(group) + 1))
        assert len(group) == min(req.num_ads, req.n_eligible) and req.num_ads == SLOTS[req.slot]
        assert group["creative_id"].is_unique


def test_logged_ads_respect_targeting_and_schedule(world):
    users = {u.user_id: u for u in world.static.users}
    camps = {c.campaign_id: c for c in world.static.campaigns}
    for row in world.streams.impressions.itertuples():
        c = camps[row.campaign_id]
        t = c.targeting
        user = users.get(row.user_id)
        assert not t.geos or row.geo in t.geos
        assert not t.devices or row.device in t.devices
        assert not t.age_bands or (user is not None and user.age_band in t.age_bands)
        assert not t.genders or (user is not None and user.gender in t.genders)
        assert not c.schedule_hours or row.hour in c.schedule_hours
        assert not t.interests or row.user_id is not None


def test_some_requests_are_anonymous(big):
    rq = big.streams.requests
    anon = rq["user_id"].isna()
    assert 0 < anon.mean() < 0.05
    assert big.streams.impressions.loc[big.streams.impressions["user_id"].isna(),
                                       "oracle_cat_score"].eq(0).all()


# ----------------------------------------------------------------- oracle

def test_oracle_is_computable_from_observed_events(small):
    """p_click_oracle can be recomputed from the clickstream messages before each request."""
    events = list(writer.messages(small, "events"))
    by_user = {}
    for e in events:
        by_user.setdefault(e.user_id, []).append(e)
    users = {u.user_id: u for u in small.static.users}
    creatives = {c.creative_id: c for c in small.static.creatives}
    requests = small.streams.requests.set_index("request_id")
    im = small.streams.impressions
    assert len(im) > 100
    for row in im.itertuples():
        req_ts = int(requests.loc[row.request_id].ts)
        state = oracle.UserState.at(by_user.get(row.user_id, []), req_ts)
        ctx = oracle.Context(row.device, row.position, row.hour, row.page_category)
        cr = creatives[row.creative_id]
        assert oracle.p_click(users.get(row.user_id), cr, ctx, state) == pytest.approx(
            row.p_click_oracle, rel=1e-9)
        assert oracle.p_convert_after_click(users.get(row.user_id), cr, ctx, state) == pytest.approx(
            row.p_convert_oracle, rel=1e-9)


def test_oracle_directions():
    base = dict(cat_score=0.0, brand_score=0.0, ad_price=20.0, avg_viewed_price=20.0,
                device_index=0, position=1, hour=20, page_match=0.0, quality=0.0, clickiness=0.0)
    p0 = oracle.p_click_batch(**base)
    assert 0.01 < p0 < 0.05
    assert oracle.p_click_batch(**{**base, "cat_score": 3.0}) > p0
    assert oracle.p_click_batch(**{**base, "brand_score": 3.0}) > p0
    assert oracle.p_click_batch(**{**base, "position": 3}) < p0
    assert oracle.p_click_batch(**{**base, "ad_price": 200.0}) < p0
    assert oracle.p_click_batch(**{**base, "hour": 4}) < p0
    assert oracle.p_click_batch(**{**base, "avg_viewed_price": np.nan, "ad_price": 500.0}) == p0
    # saturation: a huge interest score is capped
    assert (oracle.p_click_batch(**{**base, "cat_score": 1e6})
            == oracle.p_click_batch(**{**base, "cat_score": oracle.DEFAULT.score_cap}))
    many = oracle.p_click_batch(**{k: np.full(5, v) for k, v in base.items()})
    assert many.shape == (5,) and (many == p0).all()


def test_user_state_decays_with_half_life():
    class E:
        def __init__(self, ts, cat, typ="view", price=10.0):
            self.ts, self.category_id, self.brand_id, self.type, self.price = ts, cat, "b1", typ, price
    h = 6 * 3600 * 1000
    st = oracle.UserState.at([E(0, "c1"), E(h, "c1"), E(2 * h, "c2", "cart", 99.0), E(3 * h, "c1")], 2 * h)
    assert st.category_scores == pytest.approx({"c1": 0.25 + 0.5})   # the event at 2h is not before 2h
    assert st.avg_viewed_price == 10.0
    assert oracle.UserState.at([], 5).avg_viewed_price is None


def test_auc_helper():
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.auc([0, 1], [0.5, 0.5]) == 0.5
    assert metrics.auc([1, 0, 1, 0], [0.9, 0.8, 0.1, 0.2]) == 0.5
    assert np.isnan(metrics.auc([1, 1], [0.1, 0.2]))


# ----------------------------------------------------------------- files

def test_the_files_written_are_the_layouts(small_dir):
    assert tuple(writer.SCHEMAS) == layout.TABLES
    want = {layout.MANIFEST, layout.CATALOG, *(layout.table(small_dir, t).name for t in layout.TABLES),
            *(layout.stream(small_dir, s).name for s in layout.STREAMS)}
    assert {p.name for p in small_dir.iterdir()} == want and len(want) == writer.file_count()
    with pytest.raises(KeyError):
        layout.table(small_dir, "served_features")


def test_every_wire_line_round_trips(small_dir):
    for stream, cls in writer.MESSAGE_CLASSES.items():
        lines = layout.stream(small_dir, stream).read_bytes().splitlines()
        assert lines or stream == "conversions"
        for line in lines:
            assert cls.decode(line).encode() == line
            assert b"latent" not in line and b"oracle" not in line
        ts = [json.loads(line)["ts"] for line in lines]
        assert ts == sorted(ts)


def test_parquet_tables_match_streams(small, small_dir):
    im = writer.read_table(small_dir, "impressions")
    assert list(im.columns) == [n for n, _ in writer.SCHEMAS["impressions"]]
    assert len(im) == len(small.streams.impressions)
    assert im["p_click_oracle"].tolist() == small.streams.impressions["p_click_oracle"].tolist()
    ev = writer.read_table(small_dir, "events")
    assert ev["price"].isna().sum() == (ev["type"] == "search").sum()
    manifest = json.loads(layout.manifest(small_dir).read_text())
    assert manifest["seed"] == 7 and manifest["counts"]["events"] == SMALL["events"]


def test_catalog_json_is_a_valid_catalog_without_latents(small, small_dir):
    doc = json.loads(layout.catalog(small_dir).read_text())
    cat = Catalog.load(layout.catalog(small_dir))
    assert cat.to_json() == doc
    assert len(cat.creatives()) == len(small.static.creatives)
    text = layout.catalog(small_dir).read_text()
    assert "quality" not in text and "latent" not in text
    statuses = {c.review_status for c in cat.creatives()}
    assert "approved" in statuses


def test_cli_generate(tmp_path, capsys):
    rc = cli.main(["--env", "test", "generate", "--out", str(tmp_path), "--seed", "3",
                   "--users", "40", "--events", "600", "--requests", "60", "--days", "1",
                   "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "oracle_auc" in out and "ctr" in out and str(tmp_path) in out
    manifest = json.loads(layout.manifest(tmp_path).read_text())
    assert manifest["generator"]["users"] == 40 and manifest["generator"]["days"] == 1
    assert manifest["counts"]["events"] == 600 and manifest["counts"]["requests"] == 60
