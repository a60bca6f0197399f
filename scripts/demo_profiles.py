"""Wait until the profile job has written a world's most active users, then show them.

Used by ``make demo``: ``python -m scripts.demo_profiles --world DIR [--users 3]``.
Reads through Feast (the FeatureService the model uses), as the scorer will.
"""
from __future__ import annotations

import argparse
import sys
import time

from udfs import config
from udfs.io import feast_store


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="folder written by 'adstream generate'")
    p.add_argument("--users", type=int, default=3, help="how many of the most active users to show")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for their profiles")
    p.add_argument("--env", default=None)
    a = p.parse_args(argv)
    from scripts.synth.writer import read_table
    cfg = config.load(a.env)
    events = read_table(a.world, "events")
    top = events.groupby("user_id")["ts"].agg(["count", "max"]).sort_values("count", ascending=False)
    top = top.head(a.users)
    reader = feast_store.ProfileReader(cfg)
    end, rows = time.monotonic() + a.timeout, []
    while time.monotonic() < end:
        rows = reader.read_all(list(top.index))
        if all(r["last_event_ts"] == int(top.loc[r["user_id"], "max"]) for r in rows):
            break
        time.sleep(1)
    else:
        print(f"profiles not complete after {a.timeout:.0f}s (is the profile job running?)", file=sys.stderr)
        return 1
    show = ["cnt_view_1h", "cnt_cart_24h", "cnt_purchase_24h", "top_categories", "top_brand",
            "avg_price_viewed", "total_spend", "session_events"]
    for r in rows:
        print(f"user {r['user_id']} ({int(top.loc[r['user_id'], 'count'])} events)")
        for k in show:
            v = r[k]
            v = v[:3] if isinstance(v, list) else v
            print(f"    {k:18} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
