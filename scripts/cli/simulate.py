"""``adstream simulate day``: a simulated day run twice — the full feedback loop and frozen — compared."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from udfs.errors import AdstreamError

DESCRIPTION = """\
Run the synthetic world for one simulated day at a compressed clock, twice on the same
requests: (a) the full loop — live ad statistics, budgets and pacing, exploration, retraining
on its own training log — and (b) frozen — the first model, no exploration, no retraining, no
live statistics. Each request's clicks and conversions are drawn by the simulated site from a
generator seeded by the request id, so both runs see the same draws and the comparison is
paired. Reports CTR, CVR, revenue, budget use, new-ad discovery time and regret against the
world's oracle for each run, and the loop's lift with bootstrap intervals over users.

This is the jobs' logic in one process: the profile fold, the scorer, the feedback joins and
statistics, pacing, exploration and retraining are the core classes the Flink jobs wrap, on one
simulated clock, with no Flink, Kafka or Redis (the jobs themselves are tested elsewhere)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a day of the loop against a frozen model (docs/loop.md)",
                       description="Simulations on the synthetic world (docs/loop.md).")
    ss = p.add_subparsers(dest="simulate_cmd", metavar="WHAT", required=True)
    d = ss.add_parser("day", help="one simulated day, the full loop vs frozen, with lifts and regret",
                      description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="examples:\n"
                             "  adstream simulate day --seed 7 --out day.json --plots day-plots\n"
                             "  adstream simulate day --seed 3 --hours 6 --users 500 --requests-per-hour 200 "
                             "--out small.json\n"
                             "defaults come from the config's 'simulation' section (conf/base.yaml)")
    d.add_argument("--seed", type=int, default=7, help="seed of the world and the runs (default 7)")
    d.add_argument("--hours", type=int, default=None, help="simulated hours from midnight UTC, 1..24 "
                   "(default simulation.hours)")
    d.add_argument("--users", type=int, default=None, help="users of the world (default simulation.users)")
    d.add_argument("--requests-per-hour", type=int, default=None, metavar="N",
                   help="ad requests per simulated hour on average (default simulation.requests_per_hour)")
    d.add_argument("--out", metavar="FILE.json", required=True, help="where the report goes (JSON)")
    d.add_argument("--plots", metavar="DIR", default=None, help="write the PNG plots into DIR")
    d.add_argument("--work-dir", metavar="DIR", default=None,
                   help="keep the world, registry and training log here (default: a temporary folder)")
    d.set_defaults(func=run)


def _check(name: str, value: int, lo: int, hi: int | None = None) -> int:
    if value < lo or (hi is not None and value > hi):
        raise AdstreamError(f"--{name} must be {f'within {lo}..{hi}' if hi else f'at least {lo}'}, got {value}")
    return value


def run(cfg, args) -> int:
    from scripts.sim.day import simulate_day
    from scripts.sim.run import log_to_stderr
    s = cfg.simulation
    hours = _check("hours", args.hours if args.hours is not None else s.hours, 1, 24)
    users = _check("users", args.users if args.users is not None else s.users, 10)
    rph = _check("requests-per-hour", args.requests_per_hour if args.requests_per_hour is not None
                 else s.requests_per_hour, 1)
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise AdstreamError(f"--out {out}: folder {out.parent} does not exist")
    rep = simulate_day(cfg, seed=args.seed, users=users, requests_per_hour=rph, hours=hours,
                       work_dir=Path(args.work_dir) if args.work_dir else None,
                       plots_dir=Path(args.plots) if args.plots else None, log=log_to_stderr)
    out.write_text(json.dumps(rep, indent=1) + "\n")
    print(summary(rep, out))
    return 0


def summary(rep: dict, out: Path) -> str:
    def ci(x: dict) -> str:
        lo, hi = x["ci"]
        return f"{x['estimate']:+.1%} [{lo:+.1%}, {hi:+.1%}]" if None not in (x["estimate"], lo, hi) else "n/a"
    lo, fr = rep["loop"], rep["frozen"]
    lines = [f"simulated day: seed {rep['seed']}, {rep['hours']} h, {rep['requests']:,} requests "
             f"({rep['seconds']['total']:.0f} s)",
             f"  {'':8} {'CTR':>8} {'CVR':>8} {'revenue':>10} {'budget use':>10} {'regret':>10}"]
    for name, r in (("loop", lo), ("frozen", fr)):
        lines.append(f"  {name:8} {r['ctr'] or 0:8.3%} {r['cvr'] or 0:8.3%} {r['revenue']:10.2f} "
                     f"{r['budget']['use'] or 0:10.1%} {r['regret']:10.2f}")
    failed = [k for k, v in rep["target"].items() if k != "met" and not v]
    lines += [f"  lift CTR {ci(rep['lift_ctr'])}, revenue {ci(rep['lift_revenue'])}, expected value "
              f"{ci(rep['lift_expected_value'])} ({rep['lift_ctr']['confidence']:.0%}, bootstrap over users)",
              f"  target met: {rep['target']['met']}" + (f" (not: {', '.join(failed)})" if failed else ""),
              f"report: {out}"]
    return "\n".join(lines)
