"""``adstream job savepoint|stop JOB``: savepoints of a job running on the session cluster.

Through the JobManager's REST API (``udfs.io.flink_rest``): ``savepoint`` triggers one and
waits until it is written; ``stop`` is Flink's stop-with-savepoint (the sources stop, a final
savepoint is taken, the job ends FINISHED). Both print the savepoint's location, which
``adstream job JOB --target cluster --from-savepoint PATH`` (or ``--target local``) resumes from.
The directory is ``flink.cluster.savepoint_dir`` unless ``--dir`` says otherwise (a path or a URI).
"""
from __future__ import annotations

import argparse
import re

from jobs.common import uri
from udfs.config import Config
from udfs.errors import StackError
from udfs.io.flink_rest import FlinkRest

JOB_NAMES = ("profile", "scoring", "feedback")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def find_job(rest: FlinkRest, job: str) -> str:
    """The id of the running job named ``adstream-<job>`` (or ``job`` itself when it is an id)."""
    if JOB_ID.match(job):
        return job
    name = f"adstream-{job}"
    ids = [j["jid"] for j in rest.jobs() if j.get("name") == name and j.get("state") == "RUNNING"]
    if not ids:
        raise StackError(f"no running job named {name} on {rest.base} (`adstream flink status` lists them)")
    if len(ids) > 1:
        raise StackError(f"{len(ids)} running jobs named {name}: give the job id instead ({', '.join(ids)})")
    return ids[0]


def run(cfg: Config, a) -> int:
    c = cfg.flink.cluster
    rest = FlinkRest(c.rest_url)
    job_id = find_job(rest, a.name)
    target = uri(a.dir) if a.dir else uri(c.savepoint_dir)
    stop = a.action == "stop"
    print(f"{'stopping' if stop else 'savepoint of'} job {job_id} → {target}", flush=True)
    trigger = rest.trigger_savepoint(job_id, target, stop=stop)
    location = rest.wait_savepoint(job_id, trigger, c.submit_timeout_s)
    print(f"savepoint {location}")
    if stop:
        print(f"job {job_id} stopped; resume with --from-savepoint {location}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    for action, what in (("savepoint", "take a savepoint of a job on the cluster (it keeps running)"),
                         ("stop", "stop a job on the cluster with a final savepoint")):
        p = sub.add_parser(action, help=what,
                           description=f"{what[0].upper()}{what[1:]}, through the REST API at "
                                       "flink.cluster.rest_host:rest_port; prints the savepoint's "
                                       "location for --from-savepoint.")
        p.add_argument("name", metavar="JOB", help=f"{' | '.join(JOB_NAMES)} (the running job of that "
                                                  "name) or a job id")
        p.add_argument("--dir", default=None, help="savepoint directory, path or URI "
                                                   "(default: flink.cluster.savepoint_dir)")
        p.set_defaults(func=run, action=action)
