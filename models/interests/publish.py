"""``adstream interests publish --from DIR``: affinities into Feast's offline and online stores.

Copies ``DIR/affinities.parquet`` to the ``user_affinities`` view's parquet source
(``<paths.data_dir>/offline/user_affinities.parquet``), registers the Feast repository (the
same as ``adstream features apply``) and materialises the view over the rows' time span into
the online store (Redis), where the scorer's store reads it. Run it after each
``adstream interests affinities`` (a scheduled refresh: cron or the like; nothing here schedules).
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd

from udfs.core.features import AFFINITY_FEATURES, AFFINITY_VIEW, ENTITY_KEY
from udfs.errors import ModelError
from udfs.io import feast_store


def run(cfg, src: Path, say) -> int:
    table_path = src / "affinities.parquet"
    if not table_path.exists():
        raise ModelError(f"{table_path} not found: run 'adstream interests affinities --out {src}' first")
    table = pd.read_parquet(table_path)
    want = [ENTITY_KEY, "event_timestamp", *[f.name for f in AFFINITY_FEATURES]]
    if list(table.columns) != want:
        raise ModelError(f"{table_path}: columns {list(table.columns)} are not {want}; re-run affinities")
    say("registering the Feast repository …")
    feast_store.apply(cfg)
    fs = feast_store.store(cfg)
    # the view's source as registered (features/user_affinities.py: <paths.data_dir>/offline/…)
    dest = Path(fs.get_feature_view(AFFINITY_VIEW).batch_source.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(table_path, dest)
    say(f"copied {len(table)} rows to {dest}")
    start = table["event_timestamp"].min().to_pydatetime() - timedelta(seconds=1)
    end = table["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    fs.materialize(start, end, feature_views=[AFFINITY_VIEW])
    say(f"materialised {AFFINITY_VIEW} ({len(table)} users) into the online store at {cfg.redis.address}")
    return 0
