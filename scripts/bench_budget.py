"""Budget benchmark: how fast a spent budget stops being served, and by how much it is overspent.

The loop end to end, on its own Kafka + Redis: the scoring job answers ``--rate`` requests/s
from a catalogue of ``--campaigns`` CPM campaigns (one creative each, bids a step apart, so
the two best eligible win every answer; an anchor campaign that never runs out keeps the
second price near the bids), and this script plays the ad server: every ad of
every answer is shown at once (an impression sent the moment the answer arrives). The
feedback job prices each impression from the served log and writes the spend; the scorer
reads it every ``scoring_job.stats_poll_ms`` and drops a campaign whose budget is spent.
Each budget is sized to last ``--lifetime`` seconds at the top, so campaigns are exhausted
one pair after another through the run.

Per campaign: **exhaustion** is the moment the impression whose charge (the answer's price,
as the served log carries it) brings the campaign's shown spend to its budget was sent;
**last serve** is the job's time (``RankedAds.ts``) of the last answer that still offered it.
``budget_stop_*_ms`` = last serve − exhaustion, over the exhausted campaigns;
``overspend_max`` = the largest (spend the feedback job wrote to Redis − budget), also as a
share of the budget. Pacing is off (``scoring.pacing.enabled=false``): this measures the
stop, not the spreading. Requests come from users never seen (no caps, no profile: the
contextual ranking, where a CPM bid is its eCPM).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from scripts.bench import common as benchlib
from scripts.bench.feedback_load import now_ms
from udfs.messages import Impression, RankedAds, topics
from udfs.messages.served import charge_of

PRICE_STEP = 0.05


def catalogue(n: int, budget: float, tag: str) -> dict:
    """``n`` measured campaigns, then an anchor with the lowest bid and a budget that never ends:
    it keeps the last measured campaign's second price at a bid's level, not the reserve's."""
    camps, crs, advs = [], [], []
    for i in range(n + 1):
        adv, cid = f"{tag}-adv{i}", f"{tag}-c{i:02d}" if i < n else f"{tag}-anchor"
        advs.append({"advertiser_id": adv})
        camps.append({"campaign_id": cid, "advertiser_id": adv, "daily_budget": budget if i < n else 1e9,
                      "bid_type": "CPM",
                      "bid": round(10.0 - PRICE_STEP * i, 3)})
        crs.append({"creative_id": f"{tag}-cr{i:02d}", "ad_id": f"{tag}-ad{i:02d}", "campaign_id": cid,
                    "advertiser_id": adv, "item_id": f"i{i}", "category_id": "c00", "brand_id": "b0",
                    "price": 10.0, "title": f"Offer {i}", "landing_url": f"https://shop.example/{i}",
                    "review_status": "approved"})
    return {"advertisers": advs, "campaigns": camps, "creatives": crs}


def request(rid: str, user: str) -> bytes:
    return json.dumps({"schema": "ad_request", "v": 2, "request_id": rid, "user_id": user, "ts": now_ms(),
                       "slot": "feed", "num_ads": 2, "context": {"device": "mobile", "geo": "DE"},
                       "consent": {"personalisation": True, "measurement": True}}).encode()


class AdServer:
    """Consumes answers; shows every ad of a measured answer at once; keeps what it saw."""

    def __init__(self, cfg, campaigns: list[str], budget: float):
        from kafka import KafkaConsumer, KafkaProducer
        self.cfg, self.budget = cfg, budget
        self.c = KafkaConsumer(topics.name_of(cfg, "ranked_ads"), bootstrap_servers=cfg.kafka.bootstrap,
                               auto_offset_reset="latest", group_id=None)
        self.p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
        self.imp_topic = topics.name_of(cfg, "impressions")
        self.show = False
        self.spent = {c: 0.0 for c in campaigns}
        self.exhausted: dict[str, int] = {}
        self.last_serve: dict[str, int] = {}
        self.answers: set[str] = set()
        self.empty = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for recs in self.c.poll(timeout_ms=50).values():
                for rec in recs:
                    self._answer(RankedAds.decode(rec.value))

    def _answer(self, ans: RankedAds) -> None:
        self.answers.add(ans.request_id)
        if not self.show:
            return
        if not ans.ads:
            self.empty += 1
        for ad in ans.ads:
            self.last_serve[ad.campaign_id] = max(self.last_serve.get(ad.campaign_id, 0), ans.ts)
            self.p.send(self.imp_topic, Impression(
                impression_id=f"{ans.request_id}-{ad.rank}", request_id=ans.request_id,
                user_id=ans.request_id, ad_id=ad.ad_id, campaign_id=ad.campaign_id,
                creative_id=ad.creative_id, ts=now_ms(), position=ad.rank, price=0.0).encode())
            if ad.campaign_id in self.spent:
                self.spent[ad.campaign_id] += charge_of("CPM", ad.price)
                if self.spent[ad.campaign_id] >= self.budget and ad.campaign_id not in self.exhausted:
                    self.exhausted[ad.campaign_id] = now_ms()

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        self.p.flush()
        self.p.close()
        self.c.close()


def send_requests(cfg, server: AdServer, rate: float, seconds: float, tag: str, stop_when=None) -> int:
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
    name, start, i = topics.name_of(cfg, "ad_requests"), time.monotonic(), 0
    try:
        while time.monotonic() - start < seconds and not (stop_when and stop_when()):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            rid = f"{tag}-q{i}"
            p.send(name, request(rid, rid))   # a user never seen: uncapped, contextual ranking
            i += 1
    finally:
        p.flush()
        p.close()
    return i


def feedback_ready(cfg, tag: str, timeout_s: float) -> None:
    """Wait until the feedback job counts a probe impression (its own campaign) in Redis, so no
    measured impression waits for the job to start."""
    from kafka import KafkaProducer

    from scripts.bench.feedback_load import StatsPoll, request_events  # noqa: the probe's feedback
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
    poll, end, i = StatsPoll(cfg, [f"{tag}-probe-c0"]), time.monotonic() + timeout_s, 0
    try:
        while time.monotonic() < end:
            for key, value in request_events(i, now_ms(), 1, f"{tag}-probe"):
                if key in ("served_log", "impressions"):
                    p.send(topics.name_of(cfg, key), value=value)
            p.flush()
            i += 1
            t = time.monotonic()
            while time.monotonic() - t < 2.0:
                if poll.impressions()[0]:
                    return
                time.sleep(0.1)
    finally:
        p.close()
    raise TimeoutError(f"the feedback job counted nothing within {timeout_s:.0f} s")


def run(cfg, a, tag: str, budget: float) -> dict:
    """Both jobs up, the measured load, the spend as written; returns what was seen."""
    import dataclasses

    from jobs.feedback import start as start_feedback
    from jobs.scoring import start as start_scoring
    from udfs.io import feast_store
    from udfs.io.ad_stats_store import AdStatsReader
    work = Path(cfg.path("work_dir"))
    cat_file = work / "bench-catalog.json"
    cat_file.write_text(json.dumps(catalogue(a.campaigns, budget, tag)))
    cfg = dataclasses.replace(cfg, scoring_job=dataclasses.replace(cfg.scoring_job, catalog_file=str(cat_file)),
                              paths=dataclasses.replace(cfg.paths, model_registry=str(work / "models")))
    feast_store.apply(cfg)
    campaigns = [f"{tag}-c{i:02d}" for i in range(a.campaigns)]
    server = AdServer(cfg, campaigns, budget)
    feedback, scoring = start_feedback(cfg), start_scoring(cfg)
    try:
        t = time.monotonic()
        feedback_ready(cfg, tag, timeout_s=180)
        while not server.answers and time.monotonic() - t < 180:   # the scoring job answers
            send_requests(cfg, server, 5, 1.0, f"{tag}-warm{int(time.monotonic())}")
        if not server.answers:
            raise TimeoutError("the scoring job did not answer within 180 s")
        startup_s = time.monotonic() - t
        server.show = True
        done_at = [None]

        def finished() -> bool:
            if len(server.exhausted) == len(campaigns) and done_at[0] is None:
                done_at[0] = time.monotonic()
            return done_at[0] is not None and time.monotonic() - done_at[0] >= a.settle
        began = time.monotonic()
        sent = send_requests(cfg, server, a.rate, a.duration, tag, finished)
        measured_s = time.monotonic() - began
        time.sleep(3)
        server.show = False
        time.sleep(cfg.feedback.write_interval_ms / 1000 + 3)   # the last spend lands
        _, stats = AdStatsReader(cfg, socket_timeout_ms=2000).read([], campaigns)
    finally:
        server.close()
        scoring.cancel().result()
        feedback.cancel().result()
    written = {c: (stats.get(c) or {}).get("spend_today") or 0.0 for c in campaigns}
    return {"cfg": cfg, "server": server, "campaigns": campaigns, "written": written, "sent": sent,
            "measured_s": measured_s, "startup_s": startup_s}


def figures_of(r: dict, budget: float, rate: float) -> dict:
    server, campaigns, written = r["server"], r["campaigns"], r["written"]
    stops = [max(0, server.last_serve.get(c, 0) - t_ex) for c, t_ex in server.exhausted.items()]
    over = {c: written[c] - budget for c in campaigns}
    worst = max(over, key=over.get)
    q = benchlib.pct(stops) if stops else {"p50": None, "p99": None}
    cfg = r["cfg"]
    return {"budget_stop_p50_ms": q["p50"], "budget_stop_p99_ms": q["p99"],
            "budget_stop_max_ms": max(stops) if stops else None, "campaigns_exhausted": len(stops),
            "campaigns": len(campaigns), "overspend_max": over[worst], "overspend_campaign": worst,
            "overspend_max_share": over[worst] / budget, "daily_budget": budget,
            "shown_spend_max": max(server.spent.values()), "requests": r["sent"], "rate": rate,
            "measured_s": r["measured_s"], "startup_s": r["startup_s"], "empty_answers": server.empty,
            "stats_poll_ms": cfg.scoring_job.stats_poll_ms, "write_interval_ms": cfg.feedback.write_interval_ms,
            "per_campaign": {c: {"exhausted_ms": server.exhausted.get(c), "last_serve_ms": server.last_serve.get(c),
                                 "shown_spend": round(server.spent[c], 6), "written_spend": written[c]}
                             for c in campaigns}}


def main(argv=None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0], duration=90.0)
    p.add_argument("--rate", type=float, default=100.0, help="ad requests/s (each answer shows 2 ads)")
    p.add_argument("--campaigns", type=int, default=16, help="CPM campaigns in the catalogue")
    p.add_argument("--lifetime", type=float, default=8.0,
                   help="seconds a budget lasts while its campaign is among the two served")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after the last exhaustion, still sending")
    a = p.parse_args(argv)
    tag = uuid.uuid4().hex[:6]
    # the second-highest bid sets a CPM price: ~10 per 1000 impressions, charged per impression
    budget = round(a.rate * a.lifetime * charge_of("CPM", 10.0), 4)
    with benchlib.own_stack(a.env, ["flink.checkpoint_interval_ms=5000", "scoring.pacing.enabled=false"]) as cfg:
        r = run(cfg, a, tag, budget)
    f = figures_of(r, budget, a.rate)
    st = (f"p50 {f['budget_stop_p50_ms']:.0f} ms  p99 {f['budget_stop_p99_ms']:.0f} ms  max "
          f"{f['budget_stop_max_ms']:.0f} ms over {f['campaigns_exhausted']} of {f['campaigns']} campaigns"
          if f["campaigns_exhausted"] else "no campaign was exhausted")
    benchlib.report("bench_budget: budget spent → last answer offering the campaign", [
        ("budget stop (exhaustion → last serve)", st),
        ("overspend max (Redis spend − budget)", f"{f['overspend_max']:.4f} = {100 * f['overspend_max_share']:.1f} % "
                                                  f"of {budget} ({f['overspend_campaign']})"),
        ("load", f"{f['requests']} requests in {f['measured_s']:.0f} s at {a.rate:.0f}/s, 2 ads an answer; "
                 f"stats poll {f['stats_poll_ms']} ms, spend writes {f['write_interval_ms']} ms"),
    ], f, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
