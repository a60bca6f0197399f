"""The scoring job's live catalogue: a file to start from, the compacted topic on top.

:class:`CatalogKeeper` (pure) owns one :class:`~udfs.core.catalog.Catalog`: it loads the
initial file, applies change records, runs the automated review on every creative
that arrives ``pending`` (recording a rejection's reason on the creative) and turns
a bad record into a dead letter instead of a crash.

:class:`TopicFollower` reads the compacted ``ads.catalog`` topic with a plain Kafka
consumer, without a group: from the beginning at start (a compacted topic *is* the
current catalogue), to its end before the first request is served, then in short
non-blocking polls. Why a consumer inside the operator rather than Flink broadcast
state is argued in docs/scoring-job.md.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

from udfs.core.catalog import Catalog, Creative
from udfs.config import ReviewPolicy
from udfs.errors import CatalogError
from udfs.messages import DeadLetter
from udfs.core.record_guard import describe, error_letter
from udfs.core.review import review_pending, reviewed


class CatalogKeeper:
    def __init__(self, policy: ReviewPolicy, source_topic: str, *, stage: str = "scoring.rank.v1",
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 log: Callable[[str], None] = lambda msg: None):
        self.policy, self.source_topic, self.stage = policy, source_topic, stage
        self.wall_ms, self.log = wall_ms, log
        self.catalog = Catalog()
        self.applied = 0
        self.rejected = 0     # creatives the review rejected
        self.invalid = 0      # change records that could not be applied

    def load_file(self, path: str | Path) -> int:
        """Start from a whole catalogue document (strictly checked); returns its entity count."""
        cat = Catalog.load(path)
        for c in review_pending(cat, self.policy):
            self._note_review(c)
        self.catalog = cat
        return len(cat)

    def apply(self, key: bytes | str | None, value: bytes | str | None) -> DeadLetter | None:
        """Apply one topic record; an invalid one leaves the catalogue as it was and is returned
        as a dead letter."""
        try:
            entity = self.catalog.apply_record(key if key is not None else b"", value)
            if isinstance(entity, Creative) and entity.review_status == "pending":
                checked = reviewed(entity, self.policy)
                self.catalog.put(checked)
                self._note_review(checked)
        except Exception as e:   # CatalogError: the record's fault; anything else: still only this record
            self.invalid += 1
            k = key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)
            v = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
            self.log(f"catalogue record {k[:200]!r} rejected: "
                     f"{e if isinstance(e, CatalogError) else describe(e)}")
            if isinstance(e, CatalogError):
                return DeadLetter.of(f"{k}\t{v}", str(e), "invalid", self.source_topic, self.wall_ms(),
                                     stage=self.stage, field=e.field)
            return error_letter(f"{k}\t{v}", e, "catalogue change", self.source_topic, self.wall_ms(),
                                self.stage)
        self.applied += 1
        return None

    def _note_review(self, c: Creative) -> None:
        if c.review_status == "rejected":
            self.rejected += 1
            self.log(f"creative {c.creative_id} rejected by review: {c.review_reason}")


class TopicFollower:
    """All partitions of one topic from the beginning, no consumer group, no background thread."""

    def __init__(self, bootstrap: str, topic: str):
        from kafka import KafkaConsumer, TopicPartition
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                      enable_auto_commit=False, fetch_max_wait_ms=50,
                                      client_id="adstream-scoring-catalog")
        parts = self.consumer.partitions_for_topic(topic)
        if not parts:
            raise CatalogError("catalog", None, "topic", f"topic {topic!r} does not exist")
        self.partitions = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)

    def catch_up(self, timeout_s: float) -> Iterator[tuple]:
        """Records up to the end offsets seen now (bounded by ``timeout_s``)."""
        ends = self.consumer.end_offsets(self.partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(
                self.consumer.position(p) < ends[p] for p in self.partitions):
            yield from self._records(100)

    def poll(self) -> Iterator[tuple]:
        """Whatever has arrived, without waiting."""
        return self._records(0)

    def _records(self, timeout_ms: int) -> Iterator[tuple]:
        for recs in self.consumer.poll(timeout_ms=timeout_ms).values():
            for r in recs:
                yield r.key, r.value

    def close(self) -> None:
        self.consumer.close()
