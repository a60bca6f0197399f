"""``adstream interests segments|affinities|publish|evaluate``: who the user is, offline (docs/interests.md).

The steps only; the ``interests`` command group is scripts/cli/interests.py's (it adds ``keywords``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_EPILOG = """\
examples:
  adstream generate --out .work/data/world
  adstream interests keywords --data .work/data/world --out .work/interests/keywords.json
  adstream interests segments --data .work/data/world --out .work/interests/segments
  adstream --set interests.segments.centroids_uri=.work/interests/segments/segments.json job profile
  adstream interests affinities --data .work/data/world --out .work/interests/affinities
  adstream interests publish --from .work/interests/affinities     # parquet → Feast → Redis
  adstream interests evaluate --world .work/data/world --out .work/interests/evaluate.json
Settings: interests.segments, interests.affinities, interests.rules, interests.evaluate (conf/base.yaml)."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _source_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--data", metavar="WORLD", help="a synthetic world ('adstream generate'): its clickstream "
                                                  "is folded into profiles by the profile job's own fold")
    g.add_argument("--taobao", metavar="CSV", help="the Taobao UserBehavior CSV (no brands, no prices)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder the results are written to")


EPILOG = _EPILOG


def add_steps(s: argparse._SubParsersAction) -> None:
    """The ``segments``, ``affinities``, ``publish`` and ``evaluate`` steps of ``adstream interests``
    (the group itself is scripts/cli/interests.py's, which adds ``keywords``)."""
    seg = s.add_parser("segments", help="profile vectors → mini-batch K-means (k by silhouette), stable ids, "
                                        "segments.json + report.html")
    g = seg.add_mutually_exclusive_group(required=True)
    g.add_argument("--data", metavar="WORLD", help="a synthetic world: events folded into profiles")
    g.add_argument("--profiles", metavar="PARQUET", help="profile snapshots (user_id + profile feature columns)")
    seg.add_argument("--out", metavar="DIR", required=True, help="folder for segments.json, report.html, …")
    seg.add_argument("--previous", metavar="SEGMENTS_JSON",
                     help="the run whose ids to keep (default: DIR/segments.json when it exists)")
    seg.set_defaults(func=_segments)
    aff = s.add_parser("affinities", help="ALS top-k unseen categories/brands per user + FP-growth category rules")
    _source_args(aff)
    aff.set_defaults(func=_affinities)
    pub = s.add_parser("publish", help="copy DIR/affinities.parquet to the offline store and materialise it "
                                       "(Feast view user_affinities) into the online store")
    pub.add_argument("--from", dest="src", metavar="DIR", required=True, help="an 'affinities --out' folder")
    pub.set_defaults(func=_publish)
    ev = s.add_parser("evaluate", help="CTR AUC with/without the new features (synthetic world); "
                                       "next-category hit-rate@10 on the Taobao sample")
    ev.add_argument("--world", metavar="DIR", required=True,
                    help="a synthetic world ('adstream generate --out DIR'): its impressions are the CTR rows")
    ev.add_argument("--taobao", metavar="CSV", help="default: interests.evaluate.taobao_path")
    ev.add_argument("--out", metavar="FILE.json", required=True)
    ev.set_defaults(func=_evaluate)


def _segments(cfg, args) -> int:
    from models.interests import events as E
    from models.interests import segment_report as R
    from models.interests import segments as G
    from udfs.core import features as F
    from udfs.core import profile as P
    import pandas as pd

    out = Path(args.out)
    params = P.ProfileParams.from_config(cfg.profile.windows)
    ctr = None
    if args.data:
        _say(f"folding {args.data}'s clickstream into profiles …")
        profiles = E.fold_profiles(E.world_events(args.data), params)
        imps = Path(args.data) / "impressions.parquet"
        if imps.exists():
            ctr = pd.read_parquet(imps, columns=["user_id", "clicked"])
        source = f"the synthetic world {args.data}"
    else:
        profiles = E.read_profiles(args.profiles)
        source = f"profile snapshots {args.profiles}"
    prev_path = Path(args.previous) if args.previous else out / "segments.json"
    previous = R.previous_model(prev_path)
    longest = max(cfg.profile.windows.count_windows_s)
    counts = tuple(F.count_feature(t, longest) for t in F.EVENT_TYPES)
    _say(f"{len(profiles)} users; trying k in [{cfg.interests.segments.k_min}, {cfg.interests.segments.k_max}]"
         + (f", ids matched to {prev_path}" if previous else ""))
    fit = G.fit(profiles, cfg.interests.segments, counts, previous, progress=_say)
    summary = R.write(out, fit, ctr, source)
    for seg in summary:
        _say(f"segment {seg['segment_id']}: {seg['users']} users, top {seg['top_categories'][:2]}"
             + (f", CTR {seg['ctr']}" if "ctr" in seg else ""))
    print(json.dumps({"k": fit.model.meta["k"], "users": len(fit.users), "out": str(out),
                      "centroids": str(out / "segments.json")}))
    return 0


def _affinities(cfg, args) -> int:
    from models.interests import affinity_cli
    return affinity_cli.run(cfg, args, _say)


def _publish(cfg, args) -> int:
    from models.interests import publish
    return publish.run(cfg, Path(args.src), _say)


def _evaluate(cfg, args) -> int:
    from models.interests import evaluate
    return evaluate.run(cfg, args, _say)
