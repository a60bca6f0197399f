"""The demo's feedback step: what the loop made of the site's impressions, clicks and conversions.

Waits until the feedback job's statistics show the demo's impressions, then prints the
campaigns with the most spend today (attributed impressions, clicks, conversions, spend,
smoothed CTR) as the online store holds them, and the feedback job's dead letters by kind
(duplicates, late and orphan events the site sent on purpose, and anything invalid).

    .venv/bin/python scripts/demo_feedback.py --world .work/data/world --top 5
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.datasets import world_layout as layout  # noqa: E402
from udfs import config  # noqa: E402

NAMES = ("impressions_total", "clicks_total", "conversions_total", "spend_today", "ctr_prior")


def campaign_ids(world: str) -> list[str]:
    doc = json.loads(layout.catalog(world).read_text())
    return [c["campaign_id"] for c in doc["campaigns"]]


def read_stats(cfg, ids: list[str]) -> dict:
    from udfs.core.features import CAMPAIGN_STATS_VIEW
    from udfs.io import feast_store
    rows = feast_store.store(cfg).get_online_features(
        features=[f"{CAMPAIGN_STATS_VIEW}:{n}" for n in NAMES],
        entity_rows=[{"campaign_id": c} for c in ids]).to_dict()
    return {c: {n: rows[n][i] for n in NAMES} for i, c in enumerate(ids) if rows[NAMES[0]][i] is not None}


def dead_letter_kinds(cfg, since_ms: int) -> collections.Counter:
    from kafka import KafkaConsumer

    from udfs.messages import DeadLetter
    c = KafkaConsumer(cfg.kafka.topics.dead_letter.name, bootstrap_servers=cfg.kafka.bootstrap,
                      auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                      consumer_timeout_ms=2000)
    kinds: collections.Counter = collections.Counter()
    for m in c:
        d = DeadLetter.decode(m.value)
        if d.stage.startswith("feedback.") and d.ts >= since_ms:
            kinds[d.kind] += 1
    c.close()
    return kinds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="folder written by `adstream generate`")
    p.add_argument("--top", type=int, default=5, help="campaigns to show")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for statistics")
    p.add_argument("--since-ms", type=int, default=0, help="count dead letters written from this time on")
    p.add_argument("--env", default=None)
    p.add_argument("--set", action="append", default=[], dest="overrides")
    a = p.parse_args(argv)
    cfg = config.load(a.env, overrides=a.overrides)
    ids = campaign_ids(a.world)
    end, stats = time.monotonic() + a.wait, {}
    while time.monotonic() < end:
        stats = read_stats(cfg, ids)
        if stats:
            break
        time.sleep(1.0)
    if not stats:
        print(f"no ad statistics after {a.wait:.0f} s: is the feedback job running? "
              f"(see its log; `adstream job status`)")
        return 1
    time.sleep(cfg.feedback.write_interval_ms / 1000 + 1)   # the last writes land
    stats = read_stats(cfg, ids)
    total = {n: sum(v[n] or 0 for v in stats.values()) for n in NAMES[:4]}
    print(f"   attributed: {total['impressions_total']:.0f} impressions, {total['clicks_total']:.0f} clicks, "
          f"{total['conversions_total']:.0f} conversions; spend today {total['spend_today']:.2f} "
          f"across {len(stats)} campaigns")
    print(f"   {'campaign':<12} {'imps':>6} {'clicks':>6} {'convs':>6} {'spend':>9} {'CTR prior':>9}")
    for c, v in sorted(stats.items(), key=lambda kv: -(kv[1]["spend_today"] or 0))[:a.top]:
        print(f"   {c:<12} {v['impressions_total']:>6} {v['clicks_total']:>6} {v['conversions_total']:>6} "
              f"{v['spend_today'] or 0:>9.3f} {v['ctr_prior']:>9.4f}")
    kinds = dead_letter_kinds(cfg, a.since_ms)
    print("   feedback dead letters by kind (this run): " + (", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
