"""The user table's two homes: the ``user_attributes`` view's offline file and, through Feast,
the online store (docs/interests.md).

``write_offline`` puts a checked table (``udfs.core.users.check``) where the view's FileSource
reads it, stamped with the load time as its event timestamp (Feast's point-in-time rule: the
attributes are known from when they were loaded); ``materialize`` then writes the same rows
into Redis through Feast's own online write path — a load is rare and on no request's path
(the profile job writes Redis directly for speed; this needs none). The values land in the user's hash beside the profile, where the scorer's one
HMGET reads both (``udfs.io.online_read``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from udfs.config import Config
from udfs.core.features import ATTRIBUTES_VIEW


def offline_path(cfg: Config) -> Path:
    """The parquet file the view's FileSource reads (features/user_attributes.py)."""
    return cfg.path("data_dir") / "offline" / "user_attributes.parquet"


def write_offline(cfg: Config, table: pd.DataFrame, as_of: datetime) -> Path:
    """Replace the offline table with ``table`` (checked), every row stamped ``as_of`` (UTC)."""
    path = offline_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = table.copy()
    out["event_timestamp"] = pd.Timestamp(as_of).tz_convert("UTC") if as_of.tzinfo else \
        pd.Timestamp(as_of, tz="UTC")
    tmp = path.with_suffix(".parquet.tmp")
    out.to_parquet(tmp, index=False)
    tmp.replace(path)   # a reader never sees half a file
    return path


def materialize(cfg: Config, table: pd.DataFrame, as_of: datetime, store=None, *,
                chunk: int = 20_000, progress=None) -> int:
    """Write ``table``'s rows into the online store through Feast's ``write_to_online_store``
    (the view must be applied), stamped ``as_of``; ``progress(n)`` after each chunk. Returns rows.

    Feast's write path, not ``materialize``: ``materialize`` reads the FileSource path the
    registry holds, which ``features/`` computes from the config of the process that applied
    it (``ADSTREAM_ENV``), not from this command's ``--env``/``--set``; the rows are in hand."""
    from udfs.io import feast_store
    fs = store or feast_store.store(cfg)
    ts = pd.Timestamp(as_of).tz_convert("UTC") if as_of.tzinfo else pd.Timestamp(as_of, tz="UTC")
    done = 0
    for i in range(0, len(table), chunk):
        part = table.iloc[i:i + chunk].copy()
        part["event_timestamp"] = ts
        fs.write_to_online_store(ATTRIBUTES_VIEW, part)
        done += len(part)
        if progress is not None:
            progress(done)
    return done


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
