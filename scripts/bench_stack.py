"""The physical floor: Kafka produce→consume latency and Redis HGETALL latency on loopback.

Kafka: a producer sends 1 KB records at a fixed rate (default 1,000/s, linger 0, acks=1)
stamped with the send time; a consumer in another thread records receive − send.
Redis: HGETALL of a 10-field hash from redis-py, one call at a time.
Starts its own stack on free ports and stops it afterwards.
"""
from __future__ import annotations

import os
import threading
import time

from scripts.bench import common as benchlib


def kafka_latency(cfg, rate: float, size: int, duration: float, warmup: float = 0.0) -> tuple[list[float], int]:
    """Latencies (ms) of records sent after ``warmup`` seconds (JIT, connections, fetch sessions)."""
    from kafka import KafkaConsumer, KafkaProducer
    topic = cfg.kafka.topics.clicks.name
    consumer = KafkaConsumer(topic, bootstrap_servers=cfg.kafka.bootstrap, auto_offset_reset="latest",
                             fetch_max_wait_ms=1, fetch_min_bytes=1, enable_auto_commit=False)
    consumer.poll(timeout_ms=1000)  # join and get an assignment before we start sending
    consumer.seek_to_end()
    lat: list[float] = []
    done = threading.Event()

    def consume():
        while True:
            for recs in consumer.poll(timeout_ms=100).values():
                now = time.monotonic_ns()
                lat.extend((now - sent_ns) / 1e6 for r in recs
                           if (sent_ns := int(r.value[:20])) >= measure_from)
            if done.is_set() and time.monotonic() > stop_wait:
                break

    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
    pad = os.urandom(size // 2).hex().encode()[: size - 20]
    sent, stop_wait = 0, float("inf")
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    start = time.monotonic()
    measure_from = time.monotonic_ns() + int(warmup * 1e9)
    interval = 1.0 / rate
    while (now := time.monotonic()) - start < duration + warmup:
        due = start + sent * interval
        if now < due:
            time.sleep(due - now)
        producer.send(topic, b"%020d" % time.monotonic_ns() + pad)
        sent += 1
    producer.flush()
    stop_wait = time.monotonic() + 5
    done.set()
    t.join()
    consumer.close()
    producer.close()
    return lat, sent


def redis_latency(cfg, duration: float) -> list[float]:
    import redis
    r = redis.Redis(host=cfg.redis.host, port=cfg.redis.port)
    r.hset("bench:user", mapping={f"f{i}": os.urandom(8) for i in range(10)})
    lat = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        r.hgetall("bench:user")
        lat.append((time.perf_counter_ns() - t0) / 1e6)
    return lat


def main(argv=None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0], duration=10)
    p.add_argument("--rate", type=float, default=1000, help="Kafka records per second")
    p.add_argument("--size", type=int, default=1024, help="Kafka record size in bytes")
    p.add_argument("--warmup", type=float, default=3, help="seconds sent before measuring")
    a = p.parse_args(argv)
    with benchlib.own_stack(a.env) as cfg:
        redis_lat = redis_latency(cfg, a.duration)
        kafka_lat, sent = kafka_latency(cfg, a.rate, a.size, a.duration, a.warmup)
    k, r = benchlib.pct(kafka_lat), benchlib.pct(redis_lat)
    figures = {"kafka_p50_ms": k["p50"], "kafka_p99_ms": k["p99"], "kafka_sent": sent,
               "kafka_measured": k["n"], "kafka_warmup_s": a.warmup, "kafka_rate": a.rate, "kafka_size_bytes": a.size,
               "redis_p50_ms": r["p50"], "redis_p99_ms": r["p99"], "redis_calls": r["n"],
               "duration_s": a.duration}
    benchlib.report("bench_stack: the physical floor", [
        ("kafka produce→consume", f"p50 {k['p50']:.3f} ms  p99 {k['p99']:.3f} ms  "
                                  f"({k['n']} measured of {sent} sent at {a.rate:.0f}/s, {a.size} B)"),
        ("redis HGETALL (10 fields)", f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  ({r['n']} calls)"),
    ], figures, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
