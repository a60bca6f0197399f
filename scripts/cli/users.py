"""``adstream users load --table FILE``: the user table (attributes) into the offline and online stores."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from udfs.core import users
from udfs.errors import AdstreamError


class UsersError(AdstreamError):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "users", help="load the user table (age band, gender, region, registration, tier) into Feast",
        description="load --table FILE: check a user table (parquet or CSV: user_id and any of age_band, "
                    "gender, region, registered_ts (epoch ms) or registered (date), membership_tier), "
                    "copy it to the user_attributes view's offline file, register the Feast "
                    "definitions and write it into the online store through Feast, where the scoring job "
                    "reads it with the profile (docs/interests.md). A synthetic world has one: "
                    "WORLD/user_attributes.parquet. Re-run to refresh: the new table replaces the old.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["load"])
    p.add_argument("--table", required=True, type=Path, help="the user table (.parquet or .csv)")
    p.add_argument("--check-only", action="store_true", help="check and report; write nothing")
    p.set_defaults(func=run)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UsersError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype={"user_id": str})
    return pd.read_parquet(path)


def run(cfg, a) -> int:
    from udfs.io import attributes_store, feast_store
    try:
        checked = users.check(_read(a.table))
    except users.TableError as e:
        raise UsersError(f"{a.table}: {e}") from e
    t = checked.table
    print(f"{a.table}: {len(t):,} users; known: " + ", ".join(
        f"{c} {int((t[c] != '').sum()):,}" for c in ("age_band", "gender", "region", "membership_tier"))
        + f", registered_ts {int((t['registered_ts'] > 0).sum()):,}")
    for w in checked.warnings:
        print(f"  warning: {w}")
    if a.check_only:
        return 0
    as_of = attributes_store.now_utc()
    path = attributes_store.write_offline(cfg, t, as_of)
    print(f"wrote {path} (as of {as_of.isoformat()})")
    t0 = time.monotonic()
    feast_store.apply(cfg)
    attributes_store.materialize(cfg, t, as_of,
                                 progress=lambda n: print(f"  online: {n:,}/{len(t):,} users", flush=True))
    print(f"wrote {len(t):,} users into the online store ({cfg.redis.address}) "
          f"in {time.monotonic() - t0:.1f} s")
    return 0
