"""Source ``taobao``: the Taobao UserBehavior CSV (no header) → ClickEvents on the clicks topic
(the mapping: scripts/synth/datasets.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from scripts.cli.replay.records import Record, parse_streams, topic_of, user_key
from scripts.synth import datasets
from udfs.config import Config
from udfs.errors import MessageError

NEEDS_PATH = True   # --path: the CSV


def taobao_records(cfg: Config, path: str | Path, *, order: str = "time",
                   on_error: Callable[[int, MessageError], None] | None = None) -> Iterator[Record]:
    """Taobao UserBehavior CSV → ClickEvents on the clicks topic (mapping: scripts/synth/datasets.py)."""
    topic = topic_of(cfg, "events")
    for ev in datasets.read_taobao(path, order=order, on_error=on_error):
        yield Record(topic, user_key(ev.user_id), ev.encode(), ev.ts)


def from_args(cfg: Config, args, skip: Callable[[str], None]) -> tuple[Iterator[Record], int | None]:
    """The records ``adstream replay --source taobao`` sends; a line it cannot map is skipped."""
    parse_streams(args.streams, ("events",))
    return taobao_records(cfg, args.path, order=args.order, on_error=lambda n, e: skip(f"line {n}: {e}")), None
