"""``adstream job …``: run a Flink job on the embedded local mini-cluster, or submit it to a session
cluster (``--target cluster``, docs/cluster.md); savepoints and stop of a job on the cluster."""
from __future__ import annotations

import argparse
import importlib

JOBS = ("jobs.profile", "jobs.scoring", "jobs.feedback", "jobs.smoke", "jobs.status", "jobs.savepoints")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("job", help="run a streaming job (PyFlink)",
                       description="Run one of adstream's PyFlink jobs on Flink's embedded local "
                                   "mini-cluster, inside this process, or submit it to the session "
                                   "cluster with --target cluster (`adstream flink up`); settings (parallelism, "
                                   "checkpointing, python execution mode, bundle size, buffer timeout) "
                                   "come from the flink: section of the config.")
    jobs = p.add_subparsers(dest="job", metavar="JOB", required=True)
    for name in JOBS:
        importlib.import_module(name).register(jobs)
