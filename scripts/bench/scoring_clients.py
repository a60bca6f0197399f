"""The scoring benchmark's Kafka clients: confluent-kafka (librdkafka) when importable, else kafka-python.

Only the load generator uses these. The harness shares two cores with the job it measures,
and kafka-python's producer and consumer cost ~0.5 core at 500 requests/s in this process;
librdkafka does the same work in C threads. The product's own clients (udfs/, jobs/) stay
kafka-python. Both variants get the same settings where the two libraries have them: no
linger, acks=1, Nagle off (kafka-python's default), a 100 ms fetch wait, reading from the end.
"""
from __future__ import annotations

import uuid

try:
    import confluent_kafka as _ck
except ImportError:          # the fallback: slower, but every figure is still produced
    _ck = None

CONFLUENT, KAFKA_PYTHON = "confluent-kafka", "kafka-python"
_chosen = [CONFLUENT if _ck is not None else KAFKA_PYTHON]


def select(name: str = "auto") -> str:
    """Choose the client (``auto``: confluent-kafka if importable); returns the one in use."""
    if name == "auto":
        name = CONFLUENT if _ck is not None else KAFKA_PYTHON
    if name == CONFLUENT and _ck is None:
        raise RuntimeError("confluent-kafka is not installed: run scripts/setup.sh (extra `bench`)")
    if name not in (CONFLUENT, KAFKA_PYTHON):
        raise ValueError(f"unknown load generator client {name!r}")
    _chosen[0] = name
    return name


def name() -> str:
    return _chosen[0]


def version() -> str:
    if _chosen[0] == CONFLUENT:
        v = _ck.version()       # a str in 2.16; a (str, int) tuple in older releases
        return f"{v[0] if isinstance(v, tuple) else v} (librdkafka {_ck.libversion()[0]})"
    import kafka
    return kafka.__version__


def producer(bootstrap: str):
    return _CkProducer(bootstrap) if _chosen[0] == CONFLUENT else _KpProducer(bootstrap)


def consumer(bootstrap: str, topic: str):
    """A consumer of ``topic`` positioned at its end; ``poll(timeout_s)`` returns raw values."""
    return _CkConsumer(bootstrap, topic) if _chosen[0] == CONFLUENT else _KpConsumer(bootstrap, topic)


class _CkProducer:
    def __init__(self, bootstrap: str):
        # The failure count sits in a list the callback closes over: a bound method here would
        # make a reference cycle, and each phase's librdkafka producer (with its threads and
        # connections) would live on until the cyclic GC ran.
        failed = self._failed = [0]

        def on_delivery(err, _msg) -> None:
            if err is not None:
                failed[0] += 1
        # delivery.report.only.error: no Python callback per message, only for failures
        self._p = _ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1,
                                "enable.idempotence": False, "socket.nagle.disable": True,
                                "delivery.report.only.error": True, "on_delivery": on_delivery})

    @property
    def errors(self) -> int:
        return self._failed[0]

    def send(self, topic: str, value: bytes) -> None:
        try:
            self._p.produce(topic, value)
        except BufferError:      # local queue full: let librdkafka catch up, then once more
            self._p.poll(0.5)
            self._p.produce(topic, value)
        self._p.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        self._failed[0] += self._p.flush(timeout_s)   # not delivered in time: as good as failed

    def close(self) -> None:
        self._p.flush(5.0)
        self._p.close()


class _KpProducer:
    def __init__(self, bootstrap: str):
        from kafka import KafkaProducer
        # No client metrics: the load generator shares the 2 cores with what it measures.
        self._p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1, metrics_enabled=False)
        self.errors = 0

    def _failed(self, _exc) -> None:
        self.errors += 1

    def send(self, topic: str, value: bytes) -> None:
        self._p.send(topic, value).add_errback(self._failed)

    def flush(self, timeout_s: float = 60.0) -> None:
        self._p.flush(timeout=timeout_s)

    def close(self) -> None:
        self._p.close()


class _CkConsumer:
    def __init__(self, bootstrap: str, topic: str):
        # A group id librdkafka wants, never committed: offsets are assigned by hand.
        self._c = _ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-loadgen-{uuid.uuid4().hex}",
                                "enable.auto.commit": False, "enable.auto.offset.store": False,
                                "auto.offset.reset": "latest", "fetch.wait.max.ms": 100,
                                "fetch.min.bytes": 1, "socket.nagle.disable": True})
        parts = self._c.list_topics(topic, timeout=10).topics[topic].partitions
        self._c.assign([_ck.TopicPartition(topic, p, _ck.OFFSET_END) for p in sorted(parts)])
        self._c.consume(num_messages=1, timeout=1.0)   # resolves the end offsets before any phase

    def poll(self, timeout_s: float) -> list[bytes]:
        # consume(n, timeout) waits for n messages *or* the timeout, which would hold every
        # answer back up to timeout_s. So: wait for one, then take what is already there.
        first = self._c.poll(timeout_s)
        if first is None:
            return []
        batch = [first, *self._c.consume(num_messages=1000, timeout=0)]
        return [m.value() for m in batch if m.error() is None]

    def close(self) -> None:
        self._c.close()


class _KpConsumer:
    def __init__(self, bootstrap: str, topic: str):
        from kafka import KafkaConsumer
        self._c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest", fetch_max_wait_ms=100, fetch_min_bytes=1,
                                metrics_enabled=False)
        self._c.poll(timeout_ms=1000)
        self._c.seek_to_end()

    def poll(self, timeout_s: float) -> list[bytes]:
        return [r.value for recs in self._c.poll(timeout_ms=int(timeout_s * 1000)).values() for r in recs]

    def close(self) -> None:
        self._c.close()
