"""The physical floor: Kafka produce→consume latency and Redis HGETALL latency on loopback.

Kafka: a producer sends 1 KB records at a fixed rate (default 1,000/s, linger 0, acks=1)
stamped with the send time; a consumer in another thread records receive − send.
Redis: HGETALL of a 10-field hash from redis-py, one call at a time.
Starts its own stack on free ports and stops it afterwards.
"""
from __future__ import annotations

from scripts.bench import common as benchlib
from scripts.bench.floors import kafka_latency, redis_latency


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
