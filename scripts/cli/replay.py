"""``adstream replay``: publish a generated world or a public dataset to Kafka.

Sources turn files into :class:`Record` streams (topic, key, value, event time);
:func:`replay_messages` sends any such stream through one producer, paced by
wall clock if asked, and counts what went where. The sources never touch Kafka,
so tests can check them with a fake producer; the producer's address, linger
and acks come from ``cfg.kafka``.

Keys: stream messages are keyed by ``user_id`` (null for anonymous visitors),
catalogue records by ``<kind>:<id>`` as the compacted ``ads.catalog`` topic
expects (:class:`udfs.core.catalog.CatalogChange`). Record timestamps are left to the
producer (now): historical event times would make the broker's time-based
retention delete the replay at once; event time travels in the message's ``ts``.
"""
from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from models.datasets import world_layout as layout
from scripts.synth import datasets
from models.datasets.world_layout import STREAMS as WORLD_STREAMS
from udfs.messages import topics
from udfs.core.catalog import CatalogChange
from udfs.config import Config
from udfs.errors import AdstreamError, MessageError

#: Stream name -> key of its topic (``cfg.kafka.topics``): the world's streams, and its catalogue.
STREAM_TOPICS = {**layout.STREAM_TOPICS, "catalog": topics.key_of(CatalogChange)}
ALL_STREAMS = ("catalog",) + WORLD_STREAMS
SOURCES = ("world", "taobao", "openbandit")


@dataclass(frozen=True)
class Record:
    """One message to publish. ``ts`` (event time, ms) only orders merged streams."""
    topic: str
    key: bytes | None
    value: bytes | None
    ts: int = 0


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


def topic_of(cfg: Config, stream: str) -> str:
    return topics.name_of(cfg, STREAM_TOPICS[stream])


def _key(user_id: str | None) -> bytes | None:
    return user_id.encode() if user_id else None


def catalog_records(cfg: Config, doc: dict) -> Iterator[Record]:
    """Upserts for every entity of a catalogue document: advertisers, campaigns, creatives."""
    topic = topic_of(cfg, "catalog")
    for section, kind in (("advertisers", "advertiser"), ("campaigns", "campaign"),
                          ("creatives", "creative")):
        for entity in doc.get(section, []):
            key, value = CatalogChange(kind, entity[f"{kind}_id"], entity).encode()
            yield Record(topic, key, value, -1)


def parse_streams(text: str | None, allowed: tuple[str, ...] = ALL_STREAMS) -> tuple[str, ...]:
    """``"events,requests"`` → ('events', 'requests'); None or 'all' → every allowed stream."""
    if not text or text == "all":
        return allowed
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        raise AdstreamError(f"unknown stream {unknown[0]!r} (choose from {', '.join(allowed)})")
    return chosen


# ------------------------------------------------------------------ sources

def _jsonl_records(path: Path, topic: str) -> Iterator[Record]:
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            doc = json.loads(line)
            yield Record(topic, _key(doc.get("user_id")), line, int(doc["ts"]))


def world_records(cfg: Config, world_dir: str | Path,
                  streams: Iterable[str] = ALL_STREAMS) -> Iterator[Record]:
    """A written world (``adstream generate``): the catalogue first, then the chosen
    streams merged into one time order (ties keep the order events, requests, impressions,
    ad_clicks, conversions)."""
    d = Path(world_dir)
    if not layout.manifest(d).exists():
        raise AdstreamError(f"{d} holds no generated world (no {layout.MANIFEST}): run 'adstream generate'")
    streams = tuple(streams)
    if "catalog" in streams:
        yield from catalog_records(cfg, json.loads(layout.catalog(d).read_text(encoding="utf-8")))
    merged = [_jsonl_records(layout.stream(d, s), topic_of(cfg, s)) for s in WORLD_STREAMS if s in streams]
    yield from heapq.merge(*merged, key=lambda r: r.ts)


def world_size(world_dir: str | Path, streams: Iterable[str] = ALL_STREAMS) -> int | None:
    """How many records :func:`world_records` will yield (from the manifest), for progress bars."""
    try:
        counts = json.loads(layout.manifest(world_dir).read_text())["counts"]
    except (OSError, ValueError, KeyError):
        return None
    catalog = counts.get("advertisers", 0) + counts.get("campaigns", 0) + counts.get("creatives", 0)
    return sum(catalog if s == "catalog" else counts.get(s, 0) for s in streams)


def taobao_records(cfg: Config, path: str | Path, *, order: str = "time",
                   on_error: Callable[[int, MessageError], None] | None = None) -> Iterator[Record]:
    """Taobao UserBehavior CSV → ClickEvents on the clicks topic (mapping: scripts/synth/datasets.py)."""
    topic = topic_of(cfg, "events")
    for ev in datasets.read_taobao(path, order=order, on_error=on_error):
        yield Record(topic, _key(ev.user_id), ev.encode(), ev.ts)


def openbandit_records(cfg: Config, folder: str | Path,
                       streams: Iterable[str] = ("catalog", "impressions", "ad_clicks")) -> Iterator[Record]:
    """Open Bandit ``<policy>/<campaign>`` folder → catalogue, Impressions and AdClicks."""
    streams = tuple(streams)
    if "catalog" in streams:
        yield from catalog_records(cfg, datasets.openbandit_catalog(folder))
    imp_topic, click_topic = topic_of(cfg, "impressions"), topic_of(cfg, "ad_clicks")
    for rec in datasets.read_openbandit(folder):
        if "impressions" in streams:
            imp = rec.impression
            yield Record(imp_topic, _key(imp.user_id), imp.encode(), imp.ts)
        if rec.click is not None and "ad_clicks" in streams:
            yield Record(click_topic, _key(rec.click.user_id), rec.click.encode(), rec.click.ts)


# ------------------------------------------------------------------ publishing

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


# ------------------------------------------------------------------ CLI

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="publish a generated world or a public dataset to Kafka",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Publish messages to the configured topics (cfg.kafka.*), keyed by user_id "
                    "(catalogue records by '<kind>:<id>').\n"
                    "  world       a directory written by 'adstream generate': catalogue, then "
                    "events, requests,\n"
                    "              impressions, ad_clicks, conversions merged in event-time order\n"
                    "  taobao      Taobao UserBehavior CSV (no header) -> ClickEvents\n"
                    "  openbandit  an Open Bandit <policy>/<campaign> folder -> catalogue, "
                    "Impressions, AdClicks\n"
                    "Mappings are documented in scripts/synth/datasets.py and docs/generator.md.",
        epilog="examples:\n"
               "  adstream replay --source world --rate 500\n"
               "  adstream replay --source world --world /tmp/w --streams catalog,events,requests\n"
               "  adstream replay --source taobao --path UserBehavior.csv --limit 10000\n"
               "  adstream replay --source openbandit --path obd/random/men --dry-run")
    p.add_argument("--source", choices=SOURCES, default="world", help="what to replay (default: world)")
    p.add_argument("--world", metavar="DIR", default=None,
                   help="world directory for --source world (default: <paths.data_dir>/world)")
    p.add_argument("--path", metavar="PATH", default=None,
                   help="dataset file (taobao: the CSV) or folder (openbandit: <policy>/<campaign>)")
    p.add_argument("--streams", default=None, metavar="LIST",
                   help=f"comma-separated subset of {','.join(ALL_STREAMS)} (default: all the "
                        "source has)")
    p.add_argument("--order", choices=("time", "file"), default="time",
                   help="taobao: sort by timestamp (default) or keep file order (streams big files)")
    p.add_argument("--rate", type=float, default=0.0, metavar="N",
                   help="messages per second, paced by wall clock (0 = as fast as possible)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N messages")
    p.add_argument("--dry-run", action="store_true", help="read and count, publish nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _records(cfg: Config, args) -> tuple[Iterator[Record], int | None, list[str]]:
    skipped: list[str] = []
    if args.source == "world":
        folder = Path(args.world) if args.world else cfg.path("data_dir") / "world"
        streams = parse_streams(args.streams)
        return world_records(cfg, folder, streams), world_size(folder, streams), skipped
    if not args.path:
        raise AdstreamError(f"--source {args.source} needs --path")
    if not Path(args.path).exists():
        raise AdstreamError(f"{args.path} does not exist")
    if args.source == "taobao":
        parse_streams(args.streams, ("events",))
        return (taobao_records(cfg, args.path, order=args.order,
                               on_error=lambda n, e: skipped.append(f"line {n}: {e}")), None, skipped)
    streams = parse_streams(args.streams, ("catalog", "impressions", "ad_clicks"))
    return openbandit_records(cfg, args.path, streams), None, skipped


def run(cfg: Config, args) -> int:
    if args.rate < 0:
        raise AdstreamError("--rate must be >= 0")
    records, total, skipped = _records(cfg, args)
    factory = (lambda _cfg: DryRunProducer()) if args.dry_run else None
    try:
        result = replay_messages(cfg, records, producer_factory=factory, rate=args.rate,
                                 limit=args.limit, progress=not args.no_progress, total=total)
    except MessageError as e:
        raise AdstreamError(f"bad input: {e}") from None
    verb = "counted (dry run)" if args.dry_run else "published"
    print(f"{verb} {result.total:,} messages in {result.elapsed_s:.2f} s "
          f"({result.rate:,.0f}/s){'' if args.dry_run else ' to ' + cfg.kafka.bootstrap}")
    width = max([len(t) for t in result.counts] + [5])
    for topic in sorted(result.counts):
        fails = result.failed.get(topic, 0)
        print(f"  {topic:<{width}}  {result.counts[topic]:>10,}" + (f"  ({fails} failed)" if fails else ""))
    if skipped:
        print(f"skipped {len(skipped)} bad input lines, first: {skipped[0]}", file=sys.stderr)
    return 1 if result.failed else 0
