"""``adstream flink up|down|status``: the local standalone Flink session cluster (docs/cluster.md).

One module per action group: ``ACTIONS`` maps a subcommand to its ``register(subparsers)``,
so another (e.g. ``k8s``) is added by one line.
"""
from __future__ import annotations

import argparse

from scripts.cli import k8s
from scripts.flinkctl import control


def _up(cfg, _a) -> int:
    for line in control.up(cfg):
        print(line, flush=True)
    return 0


def _down(cfg, _a) -> int:
    for line in control.down(cfg):
        print(line)
    return 0


def format_status(st: dict, rest_url: str) -> list[str]:
    """The status report's lines (pure: ``control.status`` gathered the data)."""
    pids = ", ".join(f"{n} {p}" for n, p in st["pids"].items()) or "none of ours"
    if not st["answers"]:
        return [f"flink cluster: REST API at {rest_url} does not answer (running processes: {pids})"]
    ov = st["overview"]
    out = [f"flink {ov.get('flink-version', '?')} at {rest_url}: {ov.get('taskmanagers', 0)} taskmanager(s), "
           f"{ov.get('slots-available', 0)}/{ov.get('slots-total', 0)} slots free, "
           f"{ov.get('jobs-running', 0)} job(s) running; our processes: {pids}"]
    for tm in st["taskmanagers"]:
        out.append(f"  taskmanager {tm.get('id', '?')}: {tm.get('freeSlots', 0)}/{tm.get('slotsNumber', 0)} "
                   f"slots free")
    out += _prometheus_lines(st.get("prometheus"))
    for job in sorted(st["jobs"], key=lambda j: -j.get("start-time", 0)):
        out.append(f"  job {job.get('jid')} {job.get('name')}: {job.get('state')}")
        out += [f"      {name}: {value}" for name, value in job.get("metrics", {}).items()]
    return out


def _prometheus_lines(prom: dict | None) -> list[str]:
    if prom is None:
        return []
    if not prom["ports"]:
        return ["  prometheus: no reporter (flink.cluster.prometheus_ports is empty)"]
    where = ", ".join(f"{d} http://{prom['host']}:{p}/metrics" for d, p in prom["bound"].items())
    return [f"  prometheus (ports {prom['ports']}): {where or 'no daemon of ours has logged a bound port'}"]


def _status(cfg, _a) -> int:
    st = control.status(cfg)
    for line in format_status(st, cfg.flink.cluster.rest_url):
        print(line)
    return 0 if st["answers"] else 1


def _register_basic(actions: argparse._SubParsersAction) -> None:
    actions.add_parser("up", help="start the JobManager and TaskManagers (idempotent)",
                       description="Generate the cluster's conf/ and lib/ under <paths.work_dir>/flink/ "
                                   "and start a JobManager and flink.cluster.taskmanagers TaskManagers "
                                   "from the pinned PyFlink wheel; waits until they are registered."
                       ).set_defaults(func=_up)
    actions.add_parser("down", help="stop the processes `up` started (by pid)").set_defaults(func=_down)
    actions.add_parser("status", help="TaskManagers, slots and jobs, from the REST API"
                       ).set_defaults(func=_status)


# Subcommand groups: each registers its actions; add one line per new group.
ACTIONS = (_register_basic, k8s.register)   # k8s: `adstream flink k8s render` (docs/deploy.md)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flink", help="the local standalone Flink session cluster",
                       description="Control a standalone Flink session cluster on loopback (ports, "
                                   "slots and memory from flink.cluster). Jobs are submitted to it with "
                                   "`adstream job JOB --target cluster`.")
    actions = p.add_subparsers(dest="flink_action", metavar="ACTION", required=True)
    for add in ACTIONS:
        add(actions)
