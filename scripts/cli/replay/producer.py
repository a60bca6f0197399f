"""The producer loop every replay source shares: :func:`replay_messages` sends any stream of
:class:`~scripts.cli.replay.records.Record` through one producer, paced by wall clock if asked,
and counts what went where. The sources never touch Kafka, so tests can check them with a
fake producer; the producer's address, linger and acks come from ``cfg.kafka``.

Record timestamps are left to the producer (now): historical event times would make the
broker's time-based retention delete the replay at once; event time travels in the
message's ``ts``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tqdm import tqdm

from scripts.cli.replay.records import Record
from udfs.config import Config
from udfs.errors import AdstreamError


@dataclass
class ReplayResult:
    counts: dict[str, int] = field(default_factory=dict)    # topic -> records sent
    failed: dict[str, int] = field(default_factory=dict)    # topic -> delivery failures
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.total / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def kafka_acks(value: str) -> int | str:
    """Config ``kafka.acks`` ("0", "1", "all" or "-1") → kafka-python's ``acks``."""
    v = str(value).strip().lower()
    if v in ("all", "-1"):
        return "all"
    if v in ("0", "1"):
        return int(v)
    raise AdstreamError(f"kafka.acks must be 0, 1 or all, got {value!r}")


def make_producer(cfg: Config):
    """A KafkaProducer on ``cfg.kafka.bootstrap`` with the configured linger and acks."""
    from kafka import KafkaProducer
    return KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=cfg.kafka.linger_ms,
                         acks=kafka_acks(cfg.kafka.acks), client_id="adstream-replay")


class DryRunProducer:
    """Accepts and drops everything: ``--dry-run`` counts without a broker."""

    def send(self, topic, value=None, key=None):
        return None

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


def replay_messages(cfg: Config, records: Iterable[Record], *, producer=None,
                    producer_factory: Callable[[Config], object] | None = None,
                    rate: float = 0.0, limit: int | None = None, progress: bool = False,
                    total: int | None = None, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> ReplayResult:
    """Send ``records`` and return how many went to each topic.

    ``producer``: an object with kafka-python's ``send(topic, value=, key=)`` and
    ``flush()`` (kept open); otherwise one from ``producer_factory(cfg)`` (default
    :func:`make_producer`), closed at the end. ``rate`` > 0 paces sends to that many
    records per second against an absolute schedule (record i leaves at start + i/rate,
    so sleep overshoot never accumulates); 0 sends as fast as possible. ``limit``
    stops after that many records. Delivery failures reported by the producer's
    futures are counted in ``failed``.
    """
    own = producer is None
    if own:
        producer = (producer_factory or make_producer)(cfg)
    result = ReplayResult()
    counts, failed = result.counts, result.failed

    def on_error(topic: str) -> Callable[[BaseException], None]:
        def count(_exc: BaseException) -> None:
            failed[topic] = failed.get(topic, 0) + 1
        return count

    if limit is not None:
        total = limit if total is None else min(total, limit)
    bar = tqdm(total=total, desc="replay", unit="msg", file=sys.stderr, disable=not progress)
    start = clock()
    try:
        for i, rec in enumerate(records):
            if limit is not None and i >= limit:
                break
            if rate > 0:
                delay = start + i / rate - clock()
                if delay > 0:
                    sleep(delay)
            future = producer.send(rec.topic, value=rec.value, key=rec.key)
            if future is not None and hasattr(future, "add_errback"):
                future.add_errback(on_error(rec.topic))
            counts[rec.topic] = counts.get(rec.topic, 0) + 1
            bar.update(1)
        producer.flush()
    finally:
        bar.close()
        if own:
            producer.close()
    result.elapsed_s = clock() - start
    return result
