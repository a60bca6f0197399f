"""The file layout of a written synthetic world (``adstream generate --out DIR``), in one place.

The writer (scripts/synth/writer.py) puts every file at the path named here; replay,
the model's ``synthetic`` loader (models/datasets/synthetic.py), the scoring demo and the
tests find them through the same functions, so a file renamed here is renamed for all.
What each file holds is docs/generator.md's; the wire files' formats are their topics'
(:mod:`udfs.messages.topics`). Only names: no I/O, nothing heavier than ``pathlib``.
"""
from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"    # format, seed, parameters, oracle coefficients, row counts
CATALOG = "catalog.json"      # the catalogue document (udfs.core.catalog format)

#: Parquet tables, by file stem: the static world, then the streams with ground truth.
TABLES = ("categories", "brands", "users", "items", "advertisers", "campaigns", "creatives",
          "events", "requests", "impressions", "ad_clicks", "conversions",
          "user_attributes")   # the user table `adstream users load` takes (docs/interests.md)

#: Wire streams (one JSONL file each, by stem) -> key of the topic replay publishes them to.
STREAM_TOPICS = {"events": "clicks", "requests": "ad_requests", "impressions": "impressions",
                 "ad_clicks": "ad_clicks", "conversions": "conversions"}
STREAMS = tuple(STREAM_TOPICS)


def manifest(world_dir: str | Path) -> Path:
    return Path(world_dir) / MANIFEST


def catalog(world_dir: str | Path) -> Path:
    return Path(world_dir) / CATALOG


def table(world_dir: str | Path, name: str) -> Path:
    """The parquet file of table ``name`` (one of ``TABLES``; another name is a bug, not a miss)."""
    if name not in TABLES:
        raise KeyError(f"no table {name!r} in a synthetic world (tables: {', '.join(TABLES)})")
    return Path(world_dir) / f"{name}.parquet"


def stream(world_dir: str | Path, name: str) -> Path:
    """The JSONL wire file of stream ``name`` (one of ``STREAMS``)."""
    if name not in STREAM_TOPICS:
        raise KeyError(f"no stream {name!r} in a synthetic world (streams: {', '.join(STREAMS)})")
    return Path(world_dir) / f"{name}.jsonl"
