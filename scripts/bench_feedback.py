"""Feedback job benchmark: sustained attributed events/s and impression → statistic freshness.

1. floor, same run: Kafka produce→consume at the freshness rate and Redis HGETALL.
2. throughput: a backlog of synthetic feedback (``--requests`` answers, each a served log
   with 3 ads, 3 impressions, a click on every 7th impression, a conversion after every 4th
   click: 4.5 events an answer) is loaded into the four topics; the job starts, and the time
   from the first statistic written to the last impression counted gives events/s.
3. freshness: with the job running, ``--rate`` events/s of the same kind for ``--duration``
   seconds; one answer in each 100 ms is a probe for a campaign of its own, and a poller
   reads that campaign's attributed impressions in Redis (the bytes Feast reads) until the
   probe counts: produced → readable, p50/p99 over the probes after ``--warmup`` s.
Budget exhaustion → last serve (``budget_stop_p99_ms``) and the overspend (``overspend_max``)
need the scoring job in the run: ``scripts/bench_budget.py`` measures them (null here).
Starts its own Kafka + Redis on free ports and stops them afterwards.
"""
from __future__ import annotations

import threading
import time
import uuid

from scripts.bench import common as benchlib
from scripts.bench.feedback_load import StatsPoll, feature_row, now_ms, request_events
from udfs.messages import topics

CAMPAIGNS = 20


def load(cfg, pairs) -> None:
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=20, batch_size=1 << 20, acks=1)
    for key, value in pairs:
        p.send(topics.name_of(cfg, key), value=value)
    p.flush()
    p.close()


def throughput(cfg, requests: int, timeout_s: float, features: tuple = ()) -> dict:
    tag = uuid.uuid4().hex[:6]
    t0 = now_ms() - requests   # one ms apart, ending now: none in the future, none late
    pairs = [e for i in range(requests) for e in request_events(i, t0 + i, CAMPAIGNS, tag, features)]
    load(cfg, pairs)
    poll = StatsPoll(cfg, [f"{tag}-c{c}" for c in range(CAMPAIGNS)])
    first = last = None
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        n = sum(poll.impressions())
        if n and first is None:
            first = time.monotonic()
        if n >= 3 * requests:
            last = time.monotonic()
            break
        time.sleep(0.05)
    seconds = (last - first) if first is not None and last is not None else None
    return {"events": len(pairs), "seconds": seconds,
            "throughput_eps": len(pairs) / seconds if seconds else None}


def freshness(cfg, rate: float, duration: float, warmup: float, features: tuple = ()) -> dict:
    from kafka import KafkaProducer
    tag = uuid.uuid4().hex[:6]
    probe = f"{tag}-probe"
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
    poll = StatsPoll(cfg, [f"{probe}-c0"])
    stop = threading.Event()

    sent_bg = [0]

    def background():
        i, start = 0, time.monotonic()
        while not stop.is_set():
            # paced by events, not answers: an answer is 4.5 events on average
            time.sleep(max(0.0, start + sent_bg[0] / rate - time.monotonic()))
            for key, value in request_events(i, now_ms(), CAMPAIGNS, tag, features):
                p.send(topics.name_of(cfg, key), value=value)
                sent_bg[0] += 1
            i += 1

    t = threading.Thread(target=background, daemon=True)
    t.start()
    lat, lost, sent, begin = [], 0, 0, time.monotonic()
    while time.monotonic() - begin < warmup + duration:
        sent += 1
        # a probe: one campaign of its own (c0 of 1 campaign), so its count is this probe's
        t_send = time.monotonic()
        for key, value in request_events(sent, now_ms(), 1, probe, features):
            if key in ("served_log", "impressions"):
                p.send(topics.name_of(cfg, key), value=value)
        p.flush()
        seen = False
        while time.monotonic() - t_send < 5.0:
            if poll.impressions()[0] >= 3 * sent:
                seen = True
                break
            time.sleep(0.005)
        if t_send - begin >= warmup:
            if seen:
                lat.append((time.monotonic() - t_send) * 1000)
            else:
                lost += 1
        if not seen:   # resynchronise on what is counted
            sent = poll.impressions()[0] // 3
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t_send)))
    stop.set()
    t.join(5)
    p.close()
    q = benchlib.pct(lat) if lat else {"p50": None, "p99": None}
    return {"p50": q["p50"], "p99": q["p99"], "probes": len(lat), "lost": lost,
            "background_eps": sent_bg[0] / (time.monotonic() - begin)}


def main(argv=None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0], duration=60.0)
    p.add_argument("--requests", type=int, default=20000, help="answers in the throughput backlog")
    p.add_argument("--rate", type=float, default=5000.0, help="feedback events/s in the freshness phase")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of the freshness phase not measured")
    p.add_argument("--features", type=int, default=36,
                   help="float32 values in each served ad's feature row (the live model scores 36; "
                        "0: rows left empty, as the runs before this option had them)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="config override for the job, e.g. --set flink.parallelism=2 (repeatable)")
    a = p.parse_args(argv)
    row = feature_row(a.features)
    with benchlib.own_stack(a.env, ["flink.checkpoint_interval_ms=5000", *a.overrides]) as cfg:
        from jobs.feedback import start
        from scripts.bench.floors import kafka_latency, redis_latency
        from udfs.io import feast_store
        feast_store.apply(cfg)
        kafka_lat, _ = kafka_latency(cfg, a.rate, 512, min(a.duration, 10), warmup=2)
        redis_lat = redis_latency(cfg, min(a.duration, 5))
        client = start(cfg)
        try:
            tp = throughput(cfg, a.requests, timeout_s=900, features=row)
            fr = freshness(cfg, a.rate, a.duration, a.warmup, features=row)
        finally:
            client.cancel().result()
    k, r = benchlib.pct(kafka_lat), benchlib.pct(redis_lat)
    figures = {"throughput_eps": tp["throughput_eps"], "throughput_events": tp["events"],
               "throughput_seconds": tp["seconds"], "freshness_rate_eps": a.rate,
               "freshness_p50_ms": fr["p50"], "freshness_p99_ms": fr["p99"], "freshness_probes": fr["probes"],
               "freshness_lost_probes": fr["lost"],
               "freshness_background_eps": fr["background_eps"], "budget_stop_p99_ms": None, "overspend_max": None,
               "floor_kafka_p50_ms": k["p50"], "floor_kafka_p99_ms": k["p99"],
               "floor_redis_p50_ms": r["p50"], "floor_redis_p99_ms": r["p99"], "duration_s": a.duration,
               "write_interval_ms": cfg.feedback.write_interval_ms, "features_per_ad": a.features,
               "overrides": a.overrides}
    tp_txt = (f"{tp['throughput_eps']:.0f} events/s ({tp['events']} events, {tp['seconds']:.1f} s)"
              if tp["throughput_eps"] else f"not all counted within the timeout ({tp['events']} events)")
    fr_txt = (f"p50 {fr['p50']:.0f} ms  p99 {fr['p99']:.0f} ms at {fr['background_eps']:.0f} events/s sent "
              f"({fr['probes']} probes, {fr['lost']} unseen within 5 s)" if fr["p50"] is not None
              else f"no probe seen ({fr['lost']} unseen)")
    benchlib.report("bench_feedback: feedback → attributed statistics in Redis", [
        ("throughput (statistics in Redis)", tp_txt),
        ("freshness impression → statistic", fr_txt),
        ("budget stop, overspend", "see scripts/bench_budget.py (needs the scoring job in the run)"),
        ("floor: kafka produce→consume", f"p50 {k['p50']:.2f} ms  p99 {k['p99']:.2f} ms at {a.rate:.0f}/s"),
        ("floor: redis HGETALL", f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms"),
    ], figures, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
