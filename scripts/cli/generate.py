"""``adstream generate``: draw a deterministic synthetic world and write it to disk."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from tqdm import tqdm

from scripts.synth import generate, metrics, writer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="generate a synthetic world (users, ads, traffic, click truth)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw a seeded synthetic world from the config's 'generator' block and "
                    "write it as parquet tables, catalog.json and wire-format JSONL "
                    "(one Message.encode() per line, in time order). The same config and "
                    "seed give byte-identical files. Clicks and conversions on the logged "
                    "impressions are sampled from a hidden oracle whose probability is "
                    "recorded (p_click_oracle) so models can be compared with the ceiling.",
        epilog="examples:\n"
               "  adstream generate                       # default world into <data_dir>/world\n"
               "  adstream --env test generate --out /tmp/w --seed 7\n"
               "  adstream generate --users 500 --events 20000 --requests 2000 --days 3\n"
               "see docs/generator.md for the world, the oracle and the file layout")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: <paths.data_dir>/world)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: generator.seed)")
    p.add_argument("--users", type=int, default=None, help="number of users (generator.users)")
    p.add_argument("--events", type=int, default=None,
                   help="clickstream events in total (generator.events)")
    p.add_argument("--requests", type=int, default=None,
                   help="ad requests in total (generator.requests)")
    p.add_argument("--days", type=int, default=None,
                   help="simulated days from generator.start_ts_ms (generator.days)")
    p.add_argument("--validate", action="store_true",
                   help="rebuild every JSONL line through its message class (slower)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=run)


def _params(cfg, args):
    overrides = {k: getattr(args, k) for k in ("seed", "users", "events", "requests", "days")
                 if getattr(args, k) is not None}
    return dataclasses.replace(cfg.generator, **overrides)


def format_summary(figures: dict, elapsed: dict[str, float], out: Path) -> str:
    lines = [f"world written to {out}", ""]
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        shown = f"{v:,}" if isinstance(v, int) else f"{v:.4f}"
        lines.append(f"  {k:<{width}}  {shown:>12}")
    lines.append("")
    lines.append("  " + ", ".join(f"{k} {v:.2f} s" for k, v in elapsed.items()))
    return "\n".join(lines)


def run(cfg, args) -> int:
    params = _params(cfg, args)
    out = Path(args.out) if args.out else cfg.path("data_dir") / "world"
    quiet = args.no_progress
    t0 = time.perf_counter()
    with tqdm(total=params.users, desc="simulate", unit="user", file=sys.stderr,
              disable=quiet, leave=False) as bar:
        world = generate(params, progress=bar.update)
    t1 = time.perf_counter()
    with tqdm(total=writer.file_count(), desc="write", unit="file", file=sys.stderr,
              disable=quiet, leave=False) as bar:
        writer.write(world, out, validate=args.validate, progress=lambda _name: bar.update(1))
    t2 = time.perf_counter()
    print(format_summary(metrics.summary(world), {"generate": t1 - t0, "write": t2 - t1}, out))
    return 0
