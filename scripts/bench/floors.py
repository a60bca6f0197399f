"""The physical floors the benchmarks compare against: Kafka produce→consume and Redis read
latency on loopback, measured on the run's own stack (``scripts/bench_stack.py`` reports them
alone; the scoring benchmark measures them in the same run as the job)."""
from __future__ import annotations

import os
import threading
import time


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
