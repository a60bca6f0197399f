"""Source ``world``: a directory written by ``adstream generate``: the catalogue, then the
streams merged into one event-time order."""
from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import Callable, Iterable, Iterator

from models.datasets import world_layout as layout
from models.datasets.world_layout import STREAMS as WORLD_STREAMS
from scripts.cli.replay.records import (ALL_STREAMS, Record, catalog_records, parse_streams, topic_of,
                                        user_key)
from udfs.config import Config
from udfs.errors import AdstreamError
from udfs.messages.base import encode_json

NEEDS_PATH = False   # --world, defaulting to <paths.data_dir>/world


def _jsonl_records(path: Path, topic: str) -> Iterator[Record]:
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            doc = json.loads(line)
            yield Record(topic, user_key(doc.get("user_id")), line, int(doc["ts"]))


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


def pseudonymised(records: Iterable[Record], p) -> Iterator[Record]:
    """``records`` with their identifiers replaced (``udfs.core.pseudonym``, the publisher helper
    a site would use), keyed by the pseudonym; the catalogue's records carry none and pass as
    they are."""
    for r in records:
        if r.value is None or b'"user_id"' not in r.value:
            yield r
            continue
        doc = p.record(json.loads(r.value))
        yield Record(r.topic, user_key(doc.get("user_id")), encode_json(doc), r.ts)


def from_args(cfg: Config, args, skip: Callable[[str], None]) -> tuple[Iterator[Record], int | None]:
    """The records ``adstream replay --source world`` sends, and how many (for the progress bar).
    With ``privacy.pseudonymise_replay`` every id is pseudonymised first (the key must be set)."""
    folder = Path(args.world) if args.world else cfg.path("data_dir") / "world"
    streams = parse_streams(args.streams)
    records = world_records(cfg, folder, streams)
    if cfg.privacy.pseudonymise_replay:
        import os

        from udfs.core.pseudonym import Pseudonymiser
        records = pseudonymised(records, Pseudonymiser.from_environ(cfg.privacy, os.environ))
    return records, world_size(folder, streams)
