"""What the scoring-job tests share: a per-test config, a tiny promoted model, a crafted
catalogue, profiles in Feast, and a Kafka request/response client.

The crafted catalogue is built so most of the ranking can be checked by hand:
CPM campaigns have eCPM = bid whatever the model says.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from udfs import config
from udfs.io import feast_store
from udfs.core import profile as P
from udfs.messages import AdRequest, Consent, DeadLetter, RankedAds, RequestContext

T0 = 1_764_547_200_000 + 12 * 3_600_000     # 2025-12-01 12:00 UTC


def job_config(tmp_path: Path, *, registry: Path, catalog: Path | None, apply: bool = True, **extra):
    """Test config with this test's own topics, checkpoint folder, registry and catalogue file
    (``apply=False``: the caller registers the Feast definitions once its Redis is up)."""
    tag = uuid.uuid4().hex[:8]
    sets = [f"kafka.topics.{t}.name={t}-{tag}" for t in ("ad_requests", "ranked_ads", "served_log",
                                                          "dead_letter", "catalog")]
    sets += [f"flink.checkpoint_dir={tmp_path}/ckpt", "flink.checkpoint_interval_ms=1000",
             f"paths.model_registry={registry}", f"scoring_job.group_id=scoring-{tag}",
             "scoring_job.model_poll_ms=200", "scoring_job.catalog_poll_ms=100",
             f"scoring_job.catalog_file={catalog or ''}", *[f"{k}={v}" for k, v in extra.items()]]
    cfg = config.load("test", overrides=sets)
    from scripts.stack.control import create_topics
    create_topics(cfg)
    if apply:
        feast_store.apply(cfg)
    return cfg, sets, tag


def train_model(registry: Path, seed: int, promote: bool = True) -> str:
    """A tiny real model (models package, seconds), added to ``registry`` and optionally promoted."""
    from models.pipeline import run_train
    from models.registry import Registry
    from tests.support.model_fixtures import live_dataset, model_config
    cfg = model_config(registry)
    out = registry.parent / f"run-{seed}-{uuid.uuid4().hex[:6]}"
    run_train(cfg, live_dataset(cfg, seed), out, budget=1, progress=False)
    reg = Registry(registry)
    v = reg.add(out).version
    if promote:
        promote_version(registry, v)
    return v


def promote_version(registry: Path, version: str) -> None:
    from models.registry import Registry
    cfg = config.load("test")
    Registry(registry).promote(version, windows_s=cfg.profile.windows.count_windows_s,
                               feature_service=cfg.feast.feature_service, force=True,
                               reason="test")


def campaign(cid, adv, bid_type="CPM", bid=1.0, **kw):
    return {"campaign_id": cid, "advertiser_id": adv, "status": kw.pop("status", "active"),
            "daily_budget": kw.pop("daily_budget", 100.0), "bid_type": bid_type, "bid": bid, **kw}


def creative(crid, cid, adv, cat="c1", **kw):
    return {"creative_id": crid, "ad_id": f"ad-{crid}", "campaign_id": cid, "advertiser_id": adv,
            "item_id": f"i-{crid}", "category_id": cat, "brand_id": "b1", "price": 20.0,
            "title": f"Great offer {crid}", "landing_url": f"https://shop.example/{crid}",
            "review_status": kw.pop("review_status", "approved"), **kw}


def crafted_catalog() -> dict:
    """Hand-checkable: CPM bids 5 > 4 > 3 > 2 (adv A has three), one paused, one rejected,
    one geo-targeted to FR, one below the reserve, and one CPC ad whose rank depends on pCTR."""
    advs = [{"advertiser_id": a, "name": a} for a in ("A", "B", "C", "D")]
    camps = [campaign("cA1", "A", bid=5.0), campaign("cA2", "A", bid=4.0), campaign("cA3", "A", bid=3.5),
             campaign("cB1", "B", bid=3.0), campaign("cB2", "B", bid=9.0, status="paused"),
             campaign("cC1", "C", bid=2.0), campaign("cC2", "C", bid=8.0,
                                                     targeting={"geos": ["FR"]}),
             campaign("cD1", "D", bid=0.4), campaign("cD2", "D", "CPC", bid=0.2)]
    crs = [creative("crA1", "cA1", "A"), creative("crA2", "cA2", "A"), creative("crA3", "cA3", "A"),
           creative("crB1", "cB1", "B"), creative("crB2", "cB2", "B"),
           creative("crB3", "cB1", "B", review_status="rejected", review_reason="manual"),
           creative("crC1", "cC1", "C"), creative("crC2", "cC2", "C"),
           creative("crD1", "cD1", "D"), creative("crD2", "cD2", "D", cat="c2")]
    return {"advertisers": advs, "campaigns": camps, "creatives": crs}


def write_catalog(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def write_profiles(cfg, users: dict[str, list[tuple[int, str, str]]]) -> None:
    """users: id -> [(seconds after T0 - 1h, type, category)] written through Feast's writer."""
    p = P.ProfileParams.from_config(cfg.profile.windows)
    rows = []
    for uid, evs in users.items():
        st = P.build([P.EventView(T0 - 3_600_000 + s * 1000, t, c, "b1", 15.0) for s, t, c in evs], p)
        rows.append((uid, P.snapshot(st, p), feast_store.version_timestamp(st.last_event_ts * 1000)))
    feast_store.ProfileWriter(cfg).write(rows)


def request(rid, user, *, num_ads=3, slot="home_top", geo="DE", device="mobile", page=None, ts=T0):
    return AdRequest(request_id=rid, user_id=user, ts=ts, slot=slot, num_ads=num_ads,
                     context=RequestContext(device=device, geo=geo, page_category=page),
                     consent=Consent(personalisation=True, measurement=True))   # opt-in default: stated


class Client:
    """Sends requests and collects responses and dead letters of one test's topics."""

    def __init__(self, cfg):
        from kafka import KafkaConsumer, KafkaProducer
        self.cfg = cfg
        self.producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
        self.consumer = KafkaConsumer(cfg.kafka.topics.ranked_ads.name, cfg.kafka.topics.dead_letter.name,
                                      bootstrap_servers=cfg.kafka.bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False, group_id=None)
        self.responses: list[tuple[bytes | None, RankedAds]] = []
        self.dead: list[tuple[bytes | None, DeadLetter]] = []

    def send(self, value, key: str | None = None, topic: str | None = None) -> None:
        raw = value if isinstance(value, bytes) else value.encode()   # str or Message
        self.producer.send(topic or self.cfg.kafka.topics.ad_requests.name, value=raw,
                           key=key.encode() if key else None)
        self.producer.flush()

    def publish_change(self, key: str, value: dict | None) -> None:
        self.producer.send(self.cfg.kafka.topics.catalog.name, key=key.encode(),
                           value=None if value is None else json.dumps(value).encode())
        self.producer.flush()

    def drain(self, timeout_ms: int = 200) -> None:
        for tp, recs in self.consumer.poll(timeout_ms=timeout_ms).items():
            for r in recs:
                if tp.topic == self.cfg.kafka.topics.ranked_ads.name:
                    self.responses.append((r.key, RankedAds.decode(r.value)))
                else:
                    self.dead.append((r.key, DeadLetter.decode(r.value)))

    def wait(self, done, timeout_s: float = 90.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.drain()
            if done(self):
                return True
        return False

    def served_logs(self, n: int, timeout_s: float = 60.0) -> list:
        """(key, ServedLog) of the served-log topic, waiting until at least ``n`` arrived."""
        from kafka import KafkaConsumer

        from udfs.messages import ServedLog
        c = KafkaConsumer(self.cfg.kafka.topics.served_log.name, bootstrap_servers=self.cfg.kafka.bootstrap,
                          auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                          consumer_timeout_ms=500)
        out, end = [], time.monotonic() + timeout_s
        try:
            while len(out) < n and time.monotonic() < end:
                out += [(m.key, ServedLog.decode(m.value)) for m in c]
        finally:
            c.close()
        return out

    def by_id(self) -> dict[str, RankedAds]:
        return {r.request_id: r for _, r in self.responses}

    def close(self) -> None:
        self.producer.close()
        self.consumer.close()
