"""Open-loop request load against the scoring job, matched to responses by request id.

Used by ``scripts/bench_scoring.py`` and the demo. A sender thread publishes
pre-encoded ``AdRequest`` payloads on an absolute schedule (``rate`` per second;
a late send never makes the next one wait less), stamping each with
``time.monotonic_ns()`` just before ``send``; a consumer thread stamps each
``RankedAds`` as it is polled. Latency = receive − send: produce, the job, and
consume, on loopback. Requests in the first ``warmup`` seconds are sent but not
measured.
"""
from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from udfs.config import Config


@dataclass
class Phase:
    rate: float
    sent: int = 0                     # measured requests sent
    latencies_ms: list = field(default_factory=list)
    fallback: int = 0
    timings: list = field(default_factory=list)   # timings_ms of measured responses
    duplicates: int = 0
    elapsed_s: float = 0.0

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)


class Responses:
    """Consumes the ranked-ads topic from its end and stamps every response's arrival."""

    def __init__(self, cfg: Config):
        from kafka import KafkaConsumer
        self.consumer = KafkaConsumer(cfg.kafka.topics.ranked_ads.name, bootstrap_servers=cfg.kafka.bootstrap,
                                      group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
                                      fetch_max_wait_ms=100, fetch_min_bytes=1, metrics_enabled=False)
        self.consumer.poll(timeout_ms=1000)
        self.consumer.seek_to_end()
        self.seen: dict[str, tuple[int, dict]] = {}
        self.repeats = 0
        self.repeated: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        # Only stamp and file the raw bytes here (the request id sits at a fixed place in the
        # encoding): parsing happens in get(), after the phase, so this process does not
        # compete with the job for CPU while it is measured.
        while not self._stop.is_set():
            for recs in self.consumer.poll(timeout_ms=50).values():
                now = time.monotonic_ns()
                for r in recs:
                    rid = _request_id(r.value)
                    with self._lock:
                        if rid in self.seen:
                            self.repeats += 1
                            self.repeated[rid] += 1
                        else:
                            self.seen[rid] = (now, r.value)

    def get(self, rid: str):
        with self._lock:
            got = self.seen.get(rid)
            if got is not None and isinstance(got[1], bytes):
                got = self.seen[rid] = (got[0], json.loads(got[1]))
            return got

    def repeats_of(self, ids: set[str]) -> int:
        """Answers beyond the first for these request ids."""
        with self._lock:
            return sum(n for rid, n in self.repeated.items() if rid in ids)

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.consumer.close()


_RID = b'"request_id":"'


def _request_id(raw: bytes) -> str:
    """``RankedAds.encode()`` writes schema, v, then request_id first; ids never hold a quote."""
    i = raw.find(_RID)
    if i < 0:
        return json.loads(raw)["request_id"]
    i += len(_RID)
    return raw[i:raw.index(b'"', i)].decode()


def run_phase(cfg: Config, responses: Responses, make: Callable[[str], bytes], *, rate: float,
              duration: float, warmup: float, prefix: str, drain_s: float = 30.0) -> Phase:
    """Send ``(warmup + duration) x rate`` requests; wait up to ``drain_s`` for the answers."""
    from kafka import KafkaProducer
    # No client metrics: the load generator shares the 2 cores with what it measures.
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1, metrics_enabled=False)
    topic = cfg.kafka.topics.ad_requests.name
    n_warm, n = int(warmup * rate), int((warmup + duration) * rate)
    payloads = [(f"{prefix}-{i}", make(f"{prefix}-{i}")) for i in range(n)]
    sent_at: list[int] = [0] * n
    start = time.monotonic()
    for i, (_, payload) in enumerate(payloads):
        due = start + i / rate
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        sent_at[i] = time.monotonic_ns()
        producer.send(topic, payload)
    producer.flush()
    elapsed = time.monotonic() - start
    producer.close()
    ph = Phase(rate=rate, sent=n - n_warm, elapsed_s=elapsed)
    deadline = time.monotonic() + drain_s
    pending = set(range(n_warm, n))
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            got = responses.get(payloads[i][0])
            if got is not None:
                pending.discard(i)
                ph.latencies_ms.append((got[0] - sent_at[i]) / 1e6)
                ph.fallback += bool(got[1].get("fallback"))
                ph.timings.append(got[1].get("timings_ms") or {})
        if pending:
            time.sleep(0.05)
    return ph


def wait_ready(cfg: Config, responses: Responses, make: Callable[[str], bytes],
               timeout_s: float = 180) -> float:
    """Send one request a second until the (starting) job answers; returns the seconds it took."""
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    token = uuid.uuid4().hex[:8]
    start, i = time.monotonic(), 0
    try:
        while time.monotonic() - start < timeout_s:
            rid = f"ready-{token}-{i}"
            producer.send(cfg.kafka.topics.ad_requests.name, make(rid))
            producer.flush()
            t = time.monotonic()
            while time.monotonic() - t < 1.0:
                if responses.get(rid) is not None:
                    return time.monotonic() - start
                time.sleep(0.02)
            i += 1
    finally:
        producer.close()
    raise TimeoutError(f"the scoring job did not answer within {timeout_s:.0f}s")
