"""The feedback job on the real stack: four Kafka topics → PyFlink joins → dead letters (+ attributed).

A scripted sequence with exact expected outcomes — duplicates, orphans, a late record, a
malformed one — and a SIGKILL after a checkpoint in the middle, with the rest published
while the job is down and read after ``--resume``. Event times are the wall clock's (the
job's watermark and the ``future`` bound run on it)."""
from __future__ import annotations

import collections
import time
import uuid

import pytest

from tests.support.jobproc import kill_group, launch
from udfs import config
from udfs.messages import AdClick, Conversion, DeadLetter, Impression, ServedAd, ServedLog
from udfs.messages.served import CHARGED_ON, charge_of

pytestmark = [pytest.mark.integration, pytest.mark.flink]

USER = f"u-{uuid.uuid4().hex[:8]}"   # this module's user: the session's Redis is shared
TOPICS = ("served_log", "impressions", "ad_clicks", "conversions", "dead_letter", "training_log")


def job_config(tmp_path, **extra):
    tag = uuid.uuid4().hex[:8]
    sets = [f"kafka.topics.{t}.name={t}-{tag}" for t in TOPICS]
    sets += [f"flink.checkpoint_dir={tmp_path}/ckpt", "flink.checkpoint_interval_ms=1000",
             f"feedback.group_id=feedback-{tag}", *[f"{k}={v}" for k, v in extra.items()]]
    cfg = config.load("test", overrides=sets)
    from scripts.stack.control import create_topics
    create_topics(cfg)
    from udfs.io import feast_store
    feast_store.apply(cfg)
    return cfg, sets, tag


class Feed:
    """Publishes messages to their topics and reads the dead letters."""

    def __init__(self, cfg):
        from kafka import KafkaConsumer, KafkaProducer
        self.cfg = cfg
        self.p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
        self.c = KafkaConsumer(cfg.kafka.topics.dead_letter.name, bootstrap_servers=cfg.kafka.bootstrap,
                               auto_offset_reset="earliest", consumer_timeout_ms=500)
        self.letters: list[DeadLetter] = []

    def send(self, key: str, value) -> None:
        topic = getattr(self.cfg.kafka.topics, key).name
        self.p.send(topic, value=value.to_json().encode() if hasattr(value, "to_json") else value)
        self.p.flush()

    def wait_letters(self, n: int, timeout_s: float = 120) -> list[DeadLetter]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.letters) < n:
            self.letters += [DeadLetter.decode(m.value) for m in self.c]
        return self.letters

    def close(self):
        self.p.close()
        self.c.close()


def served_ad(rank, creative, bid_type, price):
    return ServedAd(ad_id=f"a-{creative}", campaign_id=f"cm-{creative}", creative_id=creative,
                    advertiser_id="adv", rank=rank, bid_type=bid_type, bid=price, pctr=0.05, ecpm=1.0,
                    price=price, charged_on=CHARGED_ON[bid_type], charge=charge_of(bid_type, price), features=())


def served(rid, ts, tag):
    return ServedLog(request_id=rid, user_id=USER, ts=ts, slot="home", model_version="v1",
                     ads=(served_ad(1, f"cpm-{tag}", "CPM", 3.0), served_ad(2, f"cpc-{tag}", "CPC", 0.4),
                          served_ad(3, f"cpa-{tag}", "CPA", 5.0)))


def imp(iid, creative, ts, rid="r1"):
    return Impression(impression_id=iid, request_id=rid, user_id=USER, ad_id=f"a-{creative}",
                      campaign_id=f"cm-{creative}", creative_id=creative, ts=ts, position=1, price=0.0)


def click(cid, iid, creative, ts, rid="r1"):
    return AdClick(click_id=cid, impression_id=iid, request_id=rid, user_id=USER, ad_id=f"a-{creative}",
                   campaign_id=f"cm-{creative}", ts=ts)


def stats_of(cfg, want, timeout_s: float = 30):
    """(impressions, clicks, conversions, spend today) per campaign as Feast reads them, once
    they equal ``want`` (the writes land within feedback.write_interval_ms) or time is up; the
    scorer's reader must see the same spend."""
    from udfs.core.features import CAMPAIGN_STATS_VIEW
    from udfs.io import feast_store
    from udfs.io.ad_stats_store import AdStatsReader
    names = ("impressions_total", "clicks_total", "conversions_total", "spend_today")
    fs, got, end = feast_store.store(cfg), None, time.monotonic() + timeout_s
    while time.monotonic() < end:
        rows = fs.get_online_features(features=[f"{CAMPAIGN_STATS_VIEW}:{n}" for n in names],
                                      entity_rows=[{"campaign_id": c} for c in want]).to_dict()
        got = {c: tuple(rows[n][i] for n in names) for i, c in enumerate(want)}
        got = {c: v[:3] + (round(v[3], 9),) if None not in v else v for c, v in got.items()}
        if got == want:
            break
        time.sleep(0.5)
    _, camps = AdStatsReader(cfg, socket_timeout_ms=1000).read([], list(want))
    assert {c: round(v["spend_today"], 9) for c, v in camps.items()} == {c: w[3] for c, w in want.items()}
    return got


def newest_checkpoint_after(root, t: float):
    return [p for p in root.glob("*/*/chk-*/_metadata") if p.stat().st_mtime > t]


def test_scripted_feedback_with_a_restart_gives_exact_dead_letters(stack, tmp_path):
    cfg, sets, tag = job_config(tmp_path)
    f = Feed(cfg)
    t0 = int(time.time() * 1000) - 10_000
    cpm, cpc, cpa = f"cpm-{tag}", f"cpc-{tag}", f"cpa-{tag}"
    job = launch("feedback", sets, log=tmp_path / "first.log")
    try:
        f.send("served_log", served("r1", t0, tag))
        for iid, cr in (("i1", cpm), ("i2", cpc), ("i3", cpa), ("i1", cpm)):   # the last: duplicate
            f.send("impressions", imp(iid, cr, t0 + 100))
        for cid, iid, cr in (("k2", "i2", cpc), ("k2", "i2", cpc), ("k3", "i3", cpa)):
            f.send("ad_clicks", click(cid, iid, cr, t0 + 2_000))
        letters = f.wait_letters(2)
        assert sorted(d.kind for d in letters) == ["duplicate", "duplicate"], letters
        seen = time.time()
        end = time.monotonic() + 60
        while time.monotonic() < end and not newest_checkpoint_after(tmp_path / "ckpt", seen + 1):
            time.sleep(0.3)
        assert newest_checkpoint_after(tmp_path / "ckpt", seen + 1), "no checkpoint after the first part"
    finally:
        kill_group(job)
    # while the job is down
    f.send("conversions", Conversion(conversion_id="v1", impression_id="i3", click_id="k3", user_id=USER,
                                     campaign_id=f"cm-{cpa}", ts=t0 + 5_000, value=20.0))
    f.send("impressions", imp("i9", cpm, t0 + 200, rid="r-never"))            # orphan: no served log
    f.send("ad_clicks", click("k9", "i-never", cpc, t0 + 200))                 # orphan: no impression
    f.send("impressions", b"{not json")
    job = launch("feedback", sets, "--resume", log=tmp_path / "resumed.log")
    try:
        f.wait_letters(3, timeout_s=120)                  # the invalid one, once the job reads again
        # The watermark is the slowest topic's; the topics without new records count once idle.
        time.sleep(cfg.profile.idle_timeout_ms / 1000 + 3)
        f.send("impressions", imp("i-late", cpm, t0 - 300_000))
        # a record 90 s ahead moves event time past every wait of the script (topics idle meanwhile)
        f.send("served_log", served("r-clock", t0 + 90_000, tag))
        letters = f.wait_letters(6, timeout_s=120)
        time.sleep(3)
        letters = f.wait_letters(7, timeout_s=2)          # nothing more may come
    finally:
        kill_group(job)
        f.close()
    assert b"restoring from" in (tmp_path / "resumed.log").read_bytes()
    kinds = collections.Counter(d.kind for d in letters)
    assert kinds == {"duplicate": 2, "orphan": 2, "invalid": 1, "late": 1}, [(d.kind, d.reason) for d in letters]
    assert {d.source_topic for d in letters if d.kind == "orphan"} == {cfg.kafka.topics.impressions.name,
                                                           cfg.kafka.topics.ad_clicks.name}
    assert all(d.stage.startswith("feedback.") and d.reason for d in letters)
    # what the user has seen, through Feast's own read: the three attributed impressions
    from udfs.core import seen
    from udfs.core.features import SEEN_FEATURE, SEEN_VIEW
    from udfs.io import feast_store
    got = feast_store.store(cfg).get_online_features(
        features=[f"{SEEN_VIEW}:{SEEN_FEATURE.name}"], entity_rows=[{"user_id": USER}]).to_dict()
    state = seen.decode(got[SEEN_FEATURE.name][0])
    assert state == {f"{kind}|{USER}|{prefix}{c}": [t0 + 100] for c in (cpm, cpc, cpa)
                     for kind, prefix in (("campaign", "cm-"), ("creative", ""))}
    # spend per campaign = the hand-computed charges (CPM 3.0/1000 per impression, CPC 0.4 per
    # click, CPA 5.0 per conversion), and the counts, through Feast and the scorer's reader
    want = {f"cm-{cpm}": (1, 0, 0, 0.003), f"cm-{cpc}": (1, 1, 0, 0.4), f"cm-{cpa}": (1, 1, 1, 5.0)}
    assert stats_of(cfg, want) == want


def test_replaying_the_whole_feedback_stream_changes_no_spend(stack, tmp_path):
    cfg, sets, tag = job_config(tmp_path)
    f = Feed(cfg)
    t0 = int(time.time() * 1000) - 10_000
    cpm, cpc, cpa = f"cpm-{tag}", f"cpc-{tag}", f"cpa-{tag}"
    script = [("served_log", served("r1", t0, tag)),
              *[("impressions", imp(i, c, t0 + 100)) for i, c in (("i1", cpm), ("i2", cpc), ("i3", cpa))],
              ("ad_clicks", click("k2", "i2", cpc, t0 + 2_000)), ("ad_clicks", click("k3", "i3", cpa, t0 + 3_000)),
              ("conversions", Conversion(conversion_id="v1", impression_id="i3", click_id="k3", user_id=USER,
                                         campaign_id=f"cm-{cpa}", ts=t0 + 5_000, value=20.0))]
    want = {f"cm-{cpm}": (1, 0, 0, 0.003), f"cm-{cpc}": (1, 1, 0, 0.4), f"cm-{cpa}": (1, 1, 1, 5.0)}
    job = launch("feedback", sets, log=tmp_path / "job.log")
    try:
        for key, msg in script:
            f.send(key, msg)
        # The clock includes the job's start (JVM, planning, deployment): minutes on a loaded box.
        assert stats_of(cfg, want, timeout_s=300) == want
        for key, msg in script:                       # the whole stream again
            f.send(key, msg)
        letters = f.wait_letters(len(script), timeout_s=90)
        time.sleep(cfg.feedback.write_interval_ms / 1000 + 2)
        assert stats_of(cfg, want, timeout_s=1) == want
    finally:
        kill_group(job)
        f.close()
    assert sorted(d.kind for d in letters) == ["duplicate"] * len(script), [(d.kind, d.reason) for d in letters]


def _seen_of(cfg, user):
    from udfs.core.features import SEEN_FEATURE, SEEN_VIEW
    from udfs.io import feast_store
    got = feast_store.store(cfg).get_online_features(
        features=[f"{SEEN_VIEW}:{SEEN_FEATURE.name}"], entity_rows=[{"user_id": user}]).to_dict()
    return got[SEEN_FEATURE.name][0]


def _until(check, timeout_s: float):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    return check()


def test_an_erasure_request_removes_the_users_caps_keeps_them_out_and_is_audited(stack, tmp_path):
    """erasure.v1 through the feedback job's seen stage: the caps fields go from Redis, an audit
    record names the ticket, and an impression from before the request (as a replay would bring)
    counts nothing again."""
    from kafka import KafkaConsumer
    from udfs.messages import ErasureAudit, ErasureRequest
    tag = uuid.uuid4().hex[:8]
    cfg, sets, _ = job_config(tmp_path, **{"kafka.topics.erasure.name": f"erasure-{tag}",
                                           "kafka.topics.erasure_audit.name": f"erasure-audit-{tag}"})
    user, f = f"u-erase-{tag}", Feed(cfg)
    now = int(time.time() * 1000)

    def answer(rid, ts):
        ad = served_ad(1, f"cpm-{tag}", "CPM", 3.0)
        f.send("served_log", ServedLog(request_id=rid, user_id=user, ts=ts, slot="home", model_version="v1", ads=(ad,)))
        f.send("impressions", Impression(impression_id=f"{rid}-1", request_id=rid, user_id=user, ad_id=ad.ad_id,
                                         campaign_id=ad.campaign_id, creative_id=ad.creative_id, ts=ts + 5,
                                         position=1, price=0.0))
    audits = KafkaConsumer(cfg.kafka.topics.erasure_audit.name, bootstrap_servers=cfg.kafka.bootstrap,
                           auto_offset_reset="earliest", consumer_timeout_ms=500)
    job = launch("feedback", sets, log=tmp_path / "job.log")
    try:
        answer("r1", now - 20_000)
        assert _until(lambda: _seen_of(cfg, user), 90), "the impression's caps never reached Redis"
        f.send("erasure", ErasureRequest(request_id=f"T-{tag}", user_id=user, ts=now - 5_000, requested_by="test"))
        assert _until(lambda: _seen_of(cfg, user) is None, 60), "the caps are still in Redis"
        got = _until(lambda: [ErasureAudit.decode(m.value) for m in audits], 30)
        answer("r2", now - 10_000)     # from before the request: suppressed by the tombstone
        time.sleep(cfg.feedback.seen_slice_ms / 1000 + 3)
        assert _seen_of(cfg, user) is None
    finally:
        kill_group(job)
        f.close()
        audits.close()
    assert [(a.ticket_id, a.user_id, a.by) for a in got] == [(f"T-{tag}", user, "adstream-feedback")]
    assert sum(got[0].stores.values()) >= 2, got[0].stores   # caps entries in state and fields online
