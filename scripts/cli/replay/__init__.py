"""``adstream replay``: publish a generated world or a public dataset to Kafka.

One module per source turns files into :class:`Record` streams (topic, key, value, event
time): ``world``, ``taobao``, ``openbandit``, each with ``from_args(cfg, args, skip)`` for
this command; ``records`` holds what they share (the record, the stream → topic table, the
catalogue's upserts); ``producer`` the one loop that sends any such stream
(:func:`replay_messages`). The names below are re-exported for the callers (tests, docs).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

from scripts.cli.replay import openbandit, taobao, world
from scripts.cli.replay.openbandit import openbandit_records
from scripts.cli.replay.producer import DryRunProducer, ReplayResult, kafka_acks, make_producer, replay_messages
from scripts.cli.replay.records import (ALL_STREAMS, STREAM_TOPICS, Record, catalog_records, parse_streams,
                                        topic_of)
from scripts.cli.replay.taobao import taobao_records
from scripts.cli.replay.world import world_records, world_size
from udfs.config import Config
from udfs.errors import AdstreamError, MessageError

__all__ = ["ALL_STREAMS", "SOURCES", "STREAM_TOPICS", "DryRunProducer", "Record", "ReplayResult",
           "catalog_records", "kafka_acks", "make_producer", "openbandit_records", "parse_streams",
           "register", "replay_messages", "run", "taobao_records", "topic_of", "world_records", "world_size"]

_SOURCES = {"world": world, "taobao": taobao, "openbandit": openbandit}   # --source, in --help's order
SOURCES = tuple(_SOURCES)


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
    source = _SOURCES[args.source]
    if source.NEEDS_PATH:
        if not args.path:
            raise AdstreamError(f"--source {args.source} needs --path")
        if not Path(args.path).exists():
            raise AdstreamError(f"{args.path} does not exist")
    records, total = source.from_args(cfg, args, skipped.append)
    return records, total, skipped


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
