"""Open-loop request load against the scoring job, matched to responses by request id.

Used by ``scripts/bench_scoring.py`` and the demo. A sender thread publishes
pre-encoded ``AdRequest`` payloads on an absolute schedule (``rate`` per second;
a late send never makes the next one wait less), stamping each with
``time.monotonic_ns()`` just before ``send``; a consumer thread stamps each
``RankedAds`` as it is polled. Latency = receive − send: produce, the job, and
consume, on loopback. Requests in the first ``warmup`` seconds are sent but not
measured. The Kafka clients are the load generator's own (``scripts/bench/scoring_clients.py``:
confluent-kafka when installed, else kafka-python).
"""
from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from scripts.bench import scoring_clients as clients
from udfs.config import Config


@dataclass
class Phase:
    rate: float
    sent: int = 0                     # measured requests sent
    latencies_ms: list = field(default_factory=list)
    send_s: list = field(default_factory=list)    # per answered request: sent, s after the measured start
    unanswered_s: list = field(default_factory=list)   # the same for requests never answered
    fallback: int = 0
    timings: list = field(default_factory=list)   # timings_ms of measured responses
    duplicates: int = 0
    elapsed_s: float = 0.0
    duration_s: float = 0.0           # the measured part of the schedule
    warm_sent: int = 0                # the phase's own warm-up requests (unmeasured)
    warm_answered: int = 0
    send_errors: int = 0              # deliveries the producer reported failed
    variants: collections.Counter = field(default_factory=collections.Counter)   # answers per variant label

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)


class Responses:
    """Consumes the ranked-ads topic from its end and stamps every response's arrival."""

    def __init__(self, cfg: Config):
        self.consumer = clients.consumer(cfg.kafka.bootstrap, cfg.kafka.topics.ranked_ads.name)
        self.last_arrival = time.monotonic()
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
            values = self.consumer.poll(0.05)
            if not values:
                continue
            now = time.monotonic_ns()      # one stamp a batch, as the batch became visible
            self.last_arrival = now / 1e9
            for v in values:
                rid = _request_id(v)
                with self._lock:
                    if rid in self.seen:
                        self.repeats += 1
                        self.repeated[rid] += 1
                    else:
                        self.seen[rid] = (now, v)

    def wait_quiet(self, quiet_s: float = 2.0, timeout_s: float = 120.0) -> float:
        """Wait until no response arrived for ``quiet_s``: the job has worked off what an
        earlier phase queued, so this phase does not measure that backlog. Returns seconds waited."""
        start = time.monotonic()
        while time.monotonic() - self.last_arrival < quiet_s and time.monotonic() - start < timeout_s:
            time.sleep(0.1)
        return round(time.monotonic() - start, 2)

    def has(self, rid: str) -> bool:
        with self._lock:
            return rid in self.seen

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
    n_warm, n = int(warmup * rate), int((warmup + duration) * rate)
    # Encoded before the clock starts, so building payloads never delays a send.
    ids = [f"{prefix}-{i}" for i in range(n)]
    payloads = [make(rid) for rid in ids]
    sent_at, elapsed, errors = _send(cfg, payloads, rate)
    ph = Phase(rate=rate, sent=n - n_warm, elapsed_s=elapsed, duration_s=duration, warm_sent=n_warm,
               send_errors=errors)
    t0 = sent_at[n_warm] if n > n_warm else 0
    deadline = time.monotonic() + drain_s
    pending = set(range(n_warm, n))
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            got = responses.get(ids[i])
            if got is not None:
                pending.discard(i)
                ph.latencies_ms.append((got[0] - sent_at[i]) / 1e6)
                ph.send_s.append((sent_at[i] - t0) / 1e9)
                ph.fallback += bool(got[1].get("fallback"))
                ph.variants[got[1].get("variant")] += 1
                ph.timings.append(got[1].get("timings_ms") or {})
        if pending:
            time.sleep(0.05)
    ph.unanswered_s = sorted((sent_at[i] - t0) / 1e9 for i in pending)
    ph.warm_answered = sum(responses.has(rid) for rid in ids[:n_warm])
    ph.duplicates = responses.repeats_of(set(ids[n_warm:]))
    return ph


def _send(cfg: Config, payloads: list[bytes], rate: float) -> tuple[list[int], float, int]:
    """Publish on an absolute schedule; returns the send stamps, the seconds it took, failed sends."""
    producer = clients.producer(cfg.kafka.bootstrap)
    topic = cfg.kafka.topics.ad_requests.name
    sent_at: list[int] = [0] * len(payloads)
    start = time.monotonic()
    try:
        for i, payload in enumerate(payloads):
            due = start + i / rate
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            sent_at[i] = time.monotonic_ns()
            producer.send(topic, payload)
        producer.flush()
        elapsed = time.monotonic() - start
    finally:            # also when a signal stops the run mid-phase: no client outlives its phase
        producer.close()
    return sent_at, elapsed, producer.errors


def wait_ready(cfg: Config, responses: Responses, make: Callable[[str], bytes],
               timeout_s: float = 180) -> float:
    """Send one request a second until the (starting) job answers; returns the seconds it took."""
    producer = clients.producer(cfg.kafka.bootstrap)
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
