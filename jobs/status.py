"""``adstream job status``: per job, where its logs are and their last error lines.

Reads only files (``udfs.io.job_logs``): works while a job runs, after it failed, and
without starting a JVM.
"""
from __future__ import annotations

import argparse

from udfs.io import job_logs
from udfs.config import Config

KNOWN = ("adstream-profile", "adstream-scoring")


def report(cfg: Config, jobs: list[str], lines: int) -> str:
    root = cfg.path("work_dir") / cfg.logs.dir
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    out = []
    for job in jobs or sorted(set(KNOWN) | set(found)):
        out.append(f"{job}:")
        for name, path in job_logs.paths(cfg, job).items():
            if not path.exists():
                out.append(f"  {name:<10} {path} (none yet)")
                continue
            errors = job_logs.error_lines(path, lines, cfg.logs.max_bytes)
            out.append(f"  {name:<10} {path} ({path.stat().st_size} bytes, "
                       f"{len(errors)} recent error line{'s' if len(errors) != 1 else ''})")
            out += [f"      {ln}" for ln in errors]
    return "\n".join(out)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="each job's log files and their last error lines",
                       description="Show, per job, its log files under <paths.work_dir>/<logs.dir>/<job>/ "
                                   "(jvm.log: Flink and the JVM; python.log: the job's Python functions; "
                                   "stderr.log: anything else the JVM process wrote) and the last error "
                                   "lines of each.")
    p.add_argument("jobs", nargs="*", metavar="JOB", help=f"job names (default: {', '.join(KNOWN)} "
                                                          "and any with logs)")
    p.add_argument("-n", "--lines", type=int, default=None,
                   help="error lines per file (default: logs.status_lines)")
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    print(report(cfg, a.jobs, a.lines if a.lines is not None else cfg.logs.status_lines))
    return 0
