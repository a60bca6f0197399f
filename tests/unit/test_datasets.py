"""Public datasets -> messages, and the replayer's record streams and pacing, without Kafka."""
import json
from collections import Counter
from pathlib import Path

import pytest

from scripts.cli import replay
from models.datasets import world_layout as layout
from scripts.synth import datasets, generate, writer
from udfs import config
from udfs.core.catalog import Catalog, CatalogChange
from udfs.errors import AdstreamError, MessageError
from udfs.messages import AdClick, ClickEvent, Impression

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
TAOBAO = SHARED / "taobao_userbehavior" / "UserBehavior_head84k.csv"
OBD_MEN = SHARED / "open_bandit_zozotown" / "random" / "men"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"../shared/datasets absent: {path} not found")
    return path


@pytest.fixture(scope="module")
def cfg():
    return config.load("test", environ={})


class FakeFuture:
    def __init__(self, fail: bool):
        self.fail = fail

    def add_errback(self, fn):
        if self.fail:
            fn(RuntimeError("broker said no"))
        return self


class FakeProducer:
    """Records what kafka-python's KafkaProducer would have been asked to send."""

    def __init__(self, fail_topic: str | None = None):
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.flushed = self.closed = False
        self.fail_topic = fail_topic

    def send(self, topic, value=None, key=None):
        self.sent.append((topic, key, value))
        return FakeFuture(topic == self.fail_topic)

    def flush(self, timeout=None):
        self.flushed = True

    def close(self, timeout=None):
        self.closed = True


# ----------------------------------------------------------------- Taobao

def test_taobao_line_mapping():
    ev = datasets.taobao_event("1,2268318,2520377,pv,1511544070\n", 1)
    assert ev == ClickEvent(event_id="tb-1", user_id="tb-u1", ts=1511544070000, type="view",
                            item_id="tb-i2268318", category_id="tb-c2520377", device="app", geo="CN")
    assert ev.price is None and ev.brand_id is None
    buy = datasets.taobao_event("7,8,9,buy,1511544070", 12)
    assert buy.type == "purchase" and buy.price == 0.0 and buy.event_id == "tb-12"
    assert {datasets.taobao_event(f"1,2,3,{b},4", 1).type for b in ("pv", "cart", "fav", "buy")} == {
        "view", "cart", "fav", "purchase"}
    assert ClickEvent.decode(ev.encode()) == ev


@pytest.mark.parametrize("line, field", [
    ("1,2,3,pv", "<line>"),
    ("1,2,3,click,1511544070", "behavior_type"),
    ("1,2,3,pv,soon", "timestamp"),
    (",2,3,pv,1511544070", "user_id"),
    ("1,2,3,pv,-5", "ts"),
])
def test_taobao_bad_lines_name_the_field(line, field):
    with pytest.raises(MessageError) as e:
        datasets.taobao_event(line, 9)
    assert e.value.field == field


def test_taobao_sample():
    path = need(TAOBAO)
    events = list(datasets.read_taobao(path))
    assert len(events) == 84475
    counts = Counter(e.type for e in events)
    # SOURCE.txt says pv 75,873: that count still included the truncated last row it dropped
    assert counts == {"view": 75872, "cart": 4497, "fav": 2356, "purchase": 1750}
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert len({e.event_id for e in events}) == len(events)
    assert len({e.user_id for e in events}) == 815
    first = next(datasets.read_taobao(path, order="file"))
    assert first.event_id == "tb-1" and first.user_id == "tb-u1"


def test_taobao_bad_line_is_skipped_or_raised(tmp_path):
    f = tmp_path / "ub.csv"
    f.write_text("1,2,3,pv,200\n1,2,3,oops,100\n\n1,2,3,buy,100\n")
    errors = []
    events = list(datasets.read_taobao(f, on_error=lambda n, e: errors.append((n, e.field))))
    assert [e.event_id for e in events] == ["tb-4", "tb-1"]     # time order
    assert errors == [(2, "behavior_type")]
    with pytest.raises(MessageError):
        list(datasets.read_taobao(f, order="file"))


# ----------------------------------------------------------------- Open Bandit

def test_openbandit_row_mapping():
    row = {"": "5", "timestamp": "2019-11-24 00:03:13.442536+00:00", "item_id": "14",
           "position": "3", "click": "1", "propensity_score": "0.029411764705882353",
           **{f"user_feature_{i}": f"h{i}" for i in range(4)}}
    rec = datasets.openbandit_record(row, campaign="men", policy="random")
    imp = rec.impression
    assert imp.impression_id == "obd-random-men-i5" and imp.request_id == "obd-random-men-r5"
    assert imp.ad_id == imp.creative_id == "obd-men-item14" and imp.campaign_id == "obd-men"
    assert imp.ts == 1574553793442 and imp.position == 3 and imp.price == 0.0
    assert imp.user_id == datasets.obd_user_id(row) and imp.user_id.startswith("obd-")
    assert rec.click == AdClick(click_id="obd-random-men-k5", impression_id=imp.impression_id,
                                request_id=imp.request_id, user_id=imp.user_id, ad_id=imp.ad_id,
                                campaign_id=imp.campaign_id, ts=imp.ts)
    assert rec.propensity == pytest.approx(1 / 34)
    assert datasets.openbandit_record({**row, "click": "0"}, campaign="men", policy="random").click is None
    with pytest.raises(MessageError):
        datasets.openbandit_record({**row, "position": "left"}, campaign="men", policy="random")


def test_openbandit_sample():
    folder = need(OBD_MEN)
    records = list(datasets.read_openbandit(folder))
    assert len(records) == 10000
    assert sum(r.click is not None for r in records) == 46
    assert {r.impression.position for r in records} == {1, 2, 3}
    ts = [r.impression.ts for r in records]
    assert ts == sorted(ts)
    assert 1574553600000 <= ts[0] and ts[-1] < 1574553600000 + 7 * 86_400_000   # 2019-11-24..30 UTC
    assert 150 < len({r.impression.user_id for r in records}) < 300
    for r in records[:200]:
        assert Impression.decode(r.impression.encode()) == r.impression
    catalog = Catalog.from_json(datasets.openbandit_catalog(folder))
    ads = {c.ad_id for c in catalog.creatives()}
    assert len(ads) == 34 and {r.impression.ad_id for r in records} <= ads


# ----------------------------------------------------------------- replay

@pytest.fixture(scope="module")
def world_dir(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("replay-world")
    writer.write(generate(cfg.generator, seed=5, users=40, items=150, events=800, requests=120,
                          days=1), out)
    return out


def test_world_records_cover_every_stream_in_order(cfg, world_dir):
    records = list(replay.world_records(cfg, world_dir))
    manifest = json.loads(layout.manifest(world_dir).read_text())["counts"]
    counts = Counter(r.topic for r in records)
    t = cfg.kafka.topics
    assert counts[t.clicks.name] == manifest["events"]
    assert counts[t.ad_requests.name] == manifest["requests"]
    assert counts[t.impressions.name] == manifest["impressions"]
    assert counts[t.ad_clicks.name] == manifest["ad_clicks"]
    assert counts[t.conversions.name] == manifest["conversions"]
    n_catalog = manifest["advertisers"] + manifest["campaigns"] + manifest["creatives"]
    assert counts[t.catalog.name] == n_catalog
    assert replay.world_size(world_dir) == len(records)
    # catalogue first, keyed '<kind>:<id>'; then one merged time order keyed by user
    assert all(r.topic == t.catalog.name for r in records[:n_catalog])
    for r in records[:n_catalog]:
        change = CatalogChange.parse(r.key, r.value)
        assert change.key == r.key.decode()
    rest = records[n_catalog:]
    assert [r.ts for r in rest] == sorted(r.ts for r in rest)
    for r in rest:
        doc = json.loads(r.value)
        assert r.key == (doc["user_id"].encode() if doc["user_id"] else None)


def test_world_records_stream_choice(cfg, world_dir):
    chosen = replay.parse_streams("events,ad_clicks")
    topics = {r.topic for r in replay.world_records(cfg, world_dir, chosen)}
    assert topics == {cfg.kafka.topics.clicks.name, cfg.kafka.topics.ad_clicks.name}
    with pytest.raises(AdstreamError):
        replay.parse_streams("events,bogus")
    with pytest.raises(AdstreamError):
        list(replay.world_records(cfg, world_dir / "nowhere"))


def test_replay_messages_sends_counts_and_flushes(cfg, world_dir):
    producer = FakeProducer()
    records = list(replay.world_records(cfg, world_dir))
    result = replay.replay_messages(cfg, records, producer=producer)
    assert producer.sent == [(r.topic, r.key, r.value) for r in records]
    assert producer.flushed and not producer.closed      # a passed-in producer stays open
    assert result.total == len(records) and result.failed == {}
    assert result.counts == dict(Counter(r.topic for r in records))


def test_replay_limit_factory_and_failures(cfg, world_dir):
    made = []

    def factory(c):
        assert c is cfg
        made.append(FakeProducer(fail_topic=cfg.kafka.topics.catalog.name))
        return made[0]

    result = replay.replay_messages(cfg, replay.world_records(cfg, world_dir),
                                    producer_factory=factory, limit=25)
    assert result.total == 25 and len(made[0].sent) == 25 and made[0].closed
    assert result.failed == {cfg.kafka.topics.catalog.name: 25}


def test_replay_pacing_follows_an_absolute_schedule(cfg):
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s + 0.0004          # every sleep overshoots a little

    records = [replay.Record("t", None, b"x", i) for i in range(200)]
    result = replay.replay_messages(cfg, records, producer=FakeProducer(), rate=100.0,
                                    clock=lambda: now[0], sleep=sleep)
    # record i leaves at start + i/rate: overshoot does not accumulate
    assert result.elapsed_s == pytest.approx(199 / 100.0, rel=0.01)
    assert result.total == 200


def test_replay_rate_on_the_wall_clock(cfg):
    records = [replay.Record("t", None, b"x", i) for i in range(301)]
    result = replay.replay_messages(cfg, records, producer=FakeProducer(), rate=1000.0)
    assert result.elapsed_s >= 0.299
    assert result.elapsed_s < 0.45     # ~1 % in practice; loose for loaded CI machines


def test_dataset_sources_as_records(cfg):
    recs = list(replay.taobao_records(cfg, need(TAOBAO), order="file"))
    assert len(recs) == 84475 and {r.topic for r in recs} == {cfg.kafka.topics.clicks.name}
    assert recs[0].key == b"tb-u1" and ClickEvent.decode(recs[0].value).event_id == "tb-1"
    obd = list(replay.openbandit_records(cfg, need(OBD_MEN)))
    counts = Counter(r.topic for r in obd)
    t = cfg.kafka.topics
    assert counts == {t.catalog.name: 36, t.impressions.name: 10000, t.ad_clicks.name: 46}


def test_kafka_acks_mapping():
    assert replay.kafka_acks("1") == 1 and replay.kafka_acks("0") == 0
    assert replay.kafka_acks("all") == "all" and replay.kafka_acks("-1") == "all"
    with pytest.raises(AdstreamError):
        replay.kafka_acks("2")


def test_cli_replay_dry_run(cfg, world_dir, capsys):
    from scripts import cli
    rc = cli.main(["--env", "test", "replay", "--world", str(world_dir), "--dry-run",
                   "--no-progress", "--streams", "events,requests"])
    assert rc == 0
    out = capsys.readouterr().out
    assert cfg.kafka.topics.clicks.name in out and cfg.kafka.topics.ad_requests.name in out
    assert cfg.kafka.topics.impressions.name not in out
