"""Source ``openbandit``: an Open Bandit ``<policy>/<campaign>`` folder → the catalogue,
Impressions and AdClicks (the mapping: scripts/synth/datasets.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from scripts.cli.replay.records import Record, catalog_records, parse_streams, topic_of, user_key
from scripts.synth import datasets
from udfs.config import Config

NEEDS_PATH = True   # --path: the <policy>/<campaign> folder
STREAMS = ("catalog", "impressions", "ad_clicks")


def openbandit_records(cfg: Config, folder: str | Path, streams: Iterable[str] = STREAMS) -> Iterator[Record]:
    """Open Bandit ``<policy>/<campaign>`` folder → catalogue, Impressions and AdClicks."""
    streams = tuple(streams)
    if "catalog" in streams:
        yield from catalog_records(cfg, datasets.openbandit_catalog(folder))
    imp_topic, click_topic = topic_of(cfg, "impressions"), topic_of(cfg, "ad_clicks")
    for rec in datasets.read_openbandit(folder):
        if "impressions" in streams:
            imp = rec.impression
            yield Record(imp_topic, user_key(imp.user_id), imp.encode(), imp.ts)
        if rec.click is not None and "ad_clicks" in streams:
            yield Record(click_topic, user_key(rec.click.user_id), rec.click.encode(), rec.click.ts)


def from_args(cfg: Config, args, skip: Callable[[str], None]) -> tuple[Iterator[Record], int | None]:
    """The records ``adstream replay --source openbandit`` sends."""
    return openbandit_records(cfg, args.path, parse_streams(args.streams, STREAMS)), None
