"""``adstream interests``: the command group; its ``keywords`` step learns the search keyword → category map.

The other steps (segments, affinities, publish, evaluate) are models/interests/cli.py's.

The map (``udfs.core.keywords``) is learnt from the world's clickstream: each search and the
category views that follow it in the same session. Its quality is measured on the newest
sessions, held out from a map learnt on the older ones; the file written is learnt from all.
Point ``profile.keyword_map`` at it and the profile job folds searches into search intent.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from models.datasets import world_layout as layout
from udfs.core import keywords as K
from udfs.errors import AdstreamError
from udfs.io import keyword_map


class InterestsError(AdstreamError):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    from models.interests import cli as steps
    p = sub.add_parser(
        "interests", help="search keywords, user segments, collaborative affinities, association rules; "
                          "publish them to Feast; evaluate them",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=steps.EPILOG,
        description="Offline jobs over users' behaviour: the search keyword → category map the profile job "
                    "folds searches with, segments the profile job assigns online, ALS affinities and "
                    "FP-growth rules published as Feast features (docs/interests.md).")
    s = p.add_subparsers(dest="interests_command", metavar="STEP", required=True)
    k = s.add_parser(
        "keywords", help="learn the search keyword → category map the profile job folds searches with",
        description="Learn the keyword → category map from a clickstream (a synthetic world's "
                    "events.parquet, or any parquet with session_id, ts, type, query, category_id): "
                    "co-occurrence of a search with the views after it in its session, TF-IDF weighted "
                    "(docs/interests.md). Prints coverage and hit rate on the newest sessions held out. "
                    "Then run the profile job with --set profile.keyword_map=FILE.")
    k.add_argument("--data", required=True, type=Path, help="a synthetic world folder, or an events parquet")
    k.add_argument("--out", required=True, type=Path, help="the map to write (JSON)")
    k.add_argument("--follow-views", type=int, default=K.LearnParams.follow_views,
                   help="views after a search that count as its outcome (default %(default)s)")
    k.add_argument("--min-count", type=int, default=K.LearnParams.min_count,
                   help="searches a (keyword, category) pair needs to be kept (default %(default)s)")
    k.add_argument("--top-k", type=int, default=K.LearnParams.top_k,
                   help="categories kept per keyword (default %(default)s)")
    k.add_argument("--holdout", type=float, default=0.2,
                   help="newest share of sessions held out for the printed measure (default %(default)s)")
    k.set_defaults(func=run)
    steps.add_steps(s)


COLUMNS = ["session_id", "ts", "type", "query", "category_id"]


def _events(data: Path) -> pd.DataFrame:
    path = layout.table(data, "events") if data.is_dir() else data
    if not path.exists():
        raise InterestsError(f"{path}: no such file (a world: 'adstream generate --out {data}')")
    df = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in df]
    if missing:
        raise InterestsError(f"{path}: no column {', '.join(missing)} (needs {', '.join(COLUMNS)})")
    return df[COLUMNS]


def _rows(df: pd.DataFrame):
    return zip(df["session_id"].astype(str), df["ts"].astype("int64"), df["type"].astype(str),
               df["query"].where(df["query"].notna(), None), df["category_id"].where(df["category_id"].notna(), None))


def run(cfg, a) -> int:
    if not 0.0 <= a.holdout < 1.0:
        raise InterestsError("--holdout must be in [0, 1)")
    params = K.LearnParams(a.follow_views, a.min_count, a.top_k)
    df = _events(a.data)
    print(f"{len(df):,} events, {int((df['type'] == 'search').sum()):,} searches, "
          f"{df['session_id'].nunique():,} sessions")
    measured = {}
    if a.holdout > 0:
        start = df.groupby("session_id")["ts"].min().sort_values(kind="stable")
        test_ids = set(start.index[int(len(start) * (1 - a.holdout)):])
        test = df["session_id"].isin(test_ids)
        measured = K.evaluate(K.learn(_rows(df[~test]), params), _rows(df[test]), a.follow_views)
        print(f"held out (newest {a.holdout:.0%} of sessions): {measured['searches']:,} searches, "
              f"coverage {measured['coverage']:.3f}, hit rate {measured['hit_rate']:.3f} "
              "(best intent category among the next views)")
    kmap = K.learn(_rows(df), params)
    out = keyword_map.save(kmap, a.out)
    print(f"wrote {out}: {len(kmap.rows):,} keywords")
    print(json.dumps({"keywords": len(kmap.rows), **{f"holdout_{k}": v for k, v in measured.items()}}))
    return 0
