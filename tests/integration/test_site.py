"""The site simulator on the real broker: requests and answers in, impressions, clicks and
conversions out, every one linked to the event before it (or a planned orphan)."""
from __future__ import annotations

import time
import uuid

import pytest

from udfs import config
from udfs.messages import AdClick, AdRequest, Conversion, Impression, RankedAd, RankedAds
from udfs.messages.base import replace

pytestmark = pytest.mark.integration

TOPICS = ("ad_requests", "ranked_ads", "impressions", "ad_clicks", "conversions")


def _publish(cfg, world_dir, n: int) -> list[AdRequest]:
    """``n`` of the world's requests under fresh ids, and an answer to each (known creatives,
    the answer's ts now), on their topics."""
    import pandas as pd
    from kafka import KafkaProducer
    from models.datasets import world_layout as layout
    t = cfg.kafka.topics
    lines = layout.stream(world_dir, "requests").read_text().splitlines()[:n]
    creatives = pd.read_parquet(layout.table(world_dir, "creatives")).to_dict("records")
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap)
    reqs = []
    for k, line in enumerate(lines):
        req = replace(AdRequest.decode(line), request_id=f"site-{k:04d}")
        picks = [creatives[(k * 7 + j) % len(creatives)] for j in range(req.num_ads)]
        ads = tuple(RankedAd(ad_id=c["ad_id"], campaign_id=c["campaign_id"], creative_id=c["creative_id"],
                             advertiser_id=c["advertiser_id"], rank=j + 1, pctr=0.05, ecpm=2.0, price=1.0)
                    for j, c in enumerate(picks))
        ans = RankedAds(request_id=req.request_id, ts=time.time_ns() // 1_000_000, ads=ads, model_version="v1")
        if k % 2:   # either topic may be read first: half the answers go out before their request
            producer.send(t.ranked_ads.name, key=req.request_id.encode(), value=ans.encode())
            producer.send(t.ad_requests.name, key=req.request_id.encode(), value=req.encode())
        else:
            producer.send(t.ad_requests.name, key=req.request_id.encode(), value=req.encode())
            producer.send(t.ranked_ads.name, key=req.request_id.encode(), value=ans.encode())
        reqs.append(req)
    producer.send(t.ranked_ads.name, value=b'{"schema": "ranked_ads", "v": 1}')   # bad input: counted
    producer.flush()
    producer.close()
    return reqs


def _read(cfg, key: str, cls):
    from kafka import KafkaConsumer
    c = KafkaConsumer(getattr(cfg.kafka.topics, key).name, bootstrap_servers=cfg.kafka.bootstrap,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    out = [(m.key.decode(), cls.decode(m.value)) for m in c]
    c.close()
    return out


def test_site_publishes_linked_feedback(stack, tmp_path):
    from scripts.cli.site import Stop, run_site
    from scripts.stack.control import create_topics
    from scripts.synth import generate, oracle
    from scripts.synth.writer import write
    tag = uuid.uuid4().hex[:6]
    cfg = config.load("test", overrides=[f"kafka.topics.{n}.name={n}-{tag}" for n in TOPICS] + [
        f"site.group_id=site-{tag}", "site.time_compression=3600", "site.late_by_s=1",
        "site.duplicate_gap_s=0.5", "site.duplicate_share=0.2", "site.late_share=0.2", "site.orphan_share=0.4"])
    create_topics(cfg)
    write(generate(cfg.generator, 9), tmp_path)
    reqs = _publish(cfg, tmp_path, 60)
    likely = oracle.OracleParams(beta0=0.5, gamma0=0.5)   # clicks and conversions on most ads: links to check
    result = run_site(cfg, tmp_path, start="earliest", stop=Stop(max_answers=60, duration_s=90, drain_s=30),
                      oracle_params=likely)
    t = result.site.tally
    assert (t.answers, result.seen_answers, result.invalid, result.undelivered) == (60, 61, 1, 0)
    assert result.join.unmatched == result.join.unanswered == 0
    imps, clicks, convs = (_read(cfg, k, c) for k, c in
                           (("impressions", Impression), ("ad_clicks", AdClick), ("conversions", Conversion)))
    sent = result.sent
    assert [len(imps), len(clicks), len(convs)] == [sent.get(getattr(cfg.kafka.topics, k).name, 0)
                                                    for k in ("impressions", "ad_clicks", "conversions")]
    imp_ids = {m.impression_id for _, m in imps}
    click_ids = {m.click_id: m for _, m in clicks}
    assert (len(imp_ids), len(click_ids), len({m.conversion_id for _, m in convs})) == \
        (t.impressions, t.clicks, t.conversions)
    assert t.clicks > 20 and t.conversions > 5 and t.orphans > 0 and t.late > 0
    assert len(imps) + len(clicks) + len(convs) - t.impressions - t.clicks - t.conversions == t.duplicates > 0
    assert sum(c.impression_id not in imp_ids for c in click_ids.values()) == t.orphans
    assert all(v.click_id in click_ids and click_ids[v.click_id].impression_id == v.impression_id
               for _, v in convs)
    rid = {r.request_id: r for r in reqs}
    assert all(k == m.request_id and m.user_id == rid[k].user_id for k, m in imps + clicks)
    assert all(k == click_ids[m.click_id].request_id for k, m in convs)
    assert t.impressions + t.orphans == t.shown == sum(r.num_ads for r in reqs)
    assert "answers seen 61" in result.line() and f"orphans {t.orphans}" in result.line()
