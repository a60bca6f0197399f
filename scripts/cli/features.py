"""``adstream features apply|yaml|show``: the Feast repository in features/."""
from __future__ import annotations

import argparse
import json

from udfs.io import feast_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="register Feast definitions, render feature_store.yaml, show profiles",
                       description="apply: register features/ in the Feast registry for this config "
                                   "(what `feast apply` does, with addresses from conf/). "
                                   "yaml: write features/feature_store.yaml from conf/ for the feast CLI. "
                                   "show USER...: print users' profiles as Feast returns them.")
    p.add_argument("action", choices=["apply", "yaml", "show"])
    p.add_argument("users", nargs="*", help="user ids for 'show'")
    p.add_argument("--all", action="store_true", help="show every profile feature, not only the service's")
    p.set_defaults(func=run)


def run(cfg, a) -> int:
    if a.action == "apply":
        for name in feast_store.apply(cfg):
            print(f"applied {name}")
    elif a.action == "yaml":
        path = feast_store.repo_dir(cfg) / "feature_store.yaml"
        path.write_text(feast_store.render_yaml(cfg))
        print(f"wrote {path}")
    else:
        reader = feast_store.ProfileReader(cfg)
        rows = reader.read_all(a.users) if a.all else reader.read(a.users)
        for row in rows:
            print(json.dumps(row, default=str, sort_keys=True))
    return 0
