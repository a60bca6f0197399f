"""``adstream training-log write|show``: the training log from Kafka into parquet, and a look at it.

``write`` consumes ``training-log.v1`` (the feedback job's labelled impressions) in its own
consumer group and writes each polled batch of a partition as one parquet file per hour
(``udfs.io.training_log_store``), named by the partition and offset range, then commits the
offsets. Rows of users erased by ``adstream privacy erase`` (its audit file) from before their
request are dropped, so a row still on the topic at the erasure is not written back. A crash between the write and the commit re-reads the batch; its rows are written
again (the same rows, which the reader collapses), never lost. A record that is not a valid
training row goes to the dead-letter topic with its reason and is counted.

Outside Flink on purpose: the feedback job stays free of filesystem sinks (and their jars),
and the writer is a plain consumer that can run wherever the store's filesystem is.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from udfs.config import Config
from udfs.errors import AdstreamError, MessageError
from udfs.io.training_log_store import TrainingLogWriter, read
from udfs.messages import DeadLetter, TrainingRow, topics

STAGE = "training-log.write.v1"


@dataclass
class WriteResult:
    rows: int = 0
    dead_letters: int = 0
    files: list = field(default_factory=list)

    def line(self) -> str:
        return f"training-log: {self.rows} rows in {len(self.files)} files, {self.dead_letters} dead letters"


def write_log(cfg: Config, *, idle_s: float | None = 5.0, duration_s: float | None = None,
              start: str = "earliest", progress_s: float = 0.0) -> WriteResult:
    """Consume the training-log topic into the store until ``idle_s`` seconds pass without a
    record or ``duration_s`` seconds in all (None: no such limit)."""
    from kafka import KafkaConsumer
    from kafka.errors import NoBrokersAvailable

    from scripts.cli.replay.producer import make_producer
    name = topics.name_of(cfg, "training_log")
    dlq = topics.name_of(cfg, "dead_letter")
    try:
        consumer = KafkaConsumer(name, bootstrap_servers=cfg.kafka.bootstrap,
                                 group_id=cfg.feedback.training_log_group, enable_auto_commit=False,
                                 auto_offset_reset=start, client_id="adstream-training-log")
        producer = make_producer(cfg)
    except NoBrokersAvailable:
        raise AdstreamError(f"no Kafka broker answers at {cfg.kafka.bootstrap} "
                            f"(start one: adstream stack up)") from None
    from scripts.cli.erasure import ErasedUsers
    writer, result, erased = TrainingLogWriter(cfg.feedback.training_log_uri), WriteResult(), ErasedUsers(cfg)
    began = last_read = last_note = time.monotonic()
    try:
        while True:
            batches = consumer.poll(timeout_ms=200, max_records=5000)
            for tp, recs in batches.items():
                rows = []
                for rec in recs:
                    try:
                        rows.append(TrainingRow.decode(rec.value or b""))
                    except MessageError as e:
                        producer.send(dlq, key=rec.key, value=DeadLetter.of(
                            rec.value or b"", str(e), e.kind, name, time.time_ns() // 1_000_000, stage=STAGE,
                            field=e.field).to_bounded_json(cfg.dead_letter.max_bytes).encode())
                        result.dead_letters += 1
                gone = erased.get()
                if gone:   # an erased user's row from before the request: not written back
                    rows = [r for r in rows if r.user_id not in gone or r.ts > gone[r.user_id]]
                if rows:
                    result.files += writer.write(rows, f"p{tp.partition}-{recs[0].offset:012d}-{recs[-1].offset:012d}")
                    result.rows += len(rows)
            if batches:
                producer.flush()          # dead letters are out before their offsets are committed
                consumer.commit()
                last_read = time.monotonic()
            now = time.monotonic()
            if progress_s and now - last_note >= progress_s:
                print(result.line(), file=sys.stderr, flush=True)
                last_note = now
            if ((idle_s is not None and now - last_read >= idle_s)
                    or (duration_s is not None and now - began >= duration_s)):
                return result
    finally:
        producer.close()
        consumer.close()


def purge(cfg: Config, *, dry_run: bool = False, now_ms: int | None = None) -> int:
    """Remove the store's hours older than the retention period; prints what it did."""
    from udfs.core.retention import expired_hours
    from udfs.io.training_log_store import drop_hours, hours
    uri, days = cfg.feedback.training_log_uri, cfg.privacy.retention.training_log_days
    held = hours(uri)
    old = expired_hours(held, time.time_ns() // 1_000_000 if now_ms is None else now_ms, days)
    if dry_run:
        print(f"training-log purge (dry run): {len(old)} of {len(held)} hours older than {days} days in {uri}"
              + (f": {old[0]} … {old[-1]}" if old else ""))
        return 0
    files = drop_hours(uri, old)
    print(f"training-log purge: removed {len(old)} of {len(held)} hours ({files} files) older than {days} days "
          f"from {uri}" + (f": {old[0]} … {old[-1]}" if old else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "training-log", help="write the feedback job's training log to parquet, or show it",
        description="write: consume the training-log topic (every impression with its click and "
                    "conversion labels, and the exact feature row the model scored) into the parquet "
                    "store at feedback.training_log, partitioned by hour; stops after --idle seconds "
                    "without a record (0: runs until interrupted). show: print the store as a reader "
                    "sees it (the highest revision of each impression). purge: remove the hours older "
                    "than privacy.retention.training_log_days (retention, docs/privacy.md).")
    p.add_argument("action", choices=["write", "show", "purge"])
    p.add_argument("--idle", type=float, default=10.0, help="write: stop after this many seconds without a "
                                                            "record; 0 = never (default: 10)")
    p.add_argument("--duration", type=float, default=None, help="write: stop after this many seconds")
    p.add_argument("--limit", type=int, default=20, help="show: rows to print (default: 20)")
    p.add_argument("--dry-run", action="store_true", help="purge: list the hours it would remove, remove nothing")
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    try:
        return _run(cfg, a)
    except OSError as e:   # the store's filesystem: say where, and what to check
        raise AdstreamError(f"training log store {cfg.feedback.training_log_uri}: {e} "
                            f"(check feedback.training_log and that the folder is writable)") from None


def _run(cfg: Config, a) -> int:
    if a.action == "write":
        r = write_log(cfg, idle_s=a.idle or None, duration_s=a.duration, progress_s=5.0)
        print(r.line())
        print(f"store: {cfg.feedback.training_log_uri}")
        return 0
    if a.action == "purge":
        return purge(cfg, dry_run=a.dry_run)
    table = read(cfg.feedback.training_log_uri)
    print(f"{table.num_rows} impressions in {cfg.feedback.training_log_uri}")
    cols = ["impression_id", "ts", "campaign_id", "creative_id", "rank", "model_version", "variant",
            "pctr", "clicked", "conversions", "revision"]
    for row in table.select(cols).slice(0, a.limit).to_pylist():
        print("  ".join(f"{k}={row[k]}" for k in cols))
    return 0
