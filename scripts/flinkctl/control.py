"""A local standalone Flink session cluster from the pinned PyFlink wheel: ``up``, ``down``, ``status``.

The daemons run from the pinned PyFlink wheel's ``bin/`` scripts on the files
``jobs/cluster_files.py`` writes under ``<paths.work_dir>/flink/`` (conf, lib, log, pids).

Each daemon runs as ``jobmanager.sh|taskmanager.sh start-foreground`` (the script ``exec``s the
JVM, so the pid we record is the JVM's) in its own session; its command line carries our conf
dir, which is how a recorded pid is told from a reused one.
"""
from __future__ import annotations

import re
import subprocess
import time

from jobs.cluster_files import JOBMANAGER, Layout, flink_env, flink_home, layout, taskmanager_names, write_conf
from scripts.stack.control import _ours, _port_open, _read_pid, _stop, _tail
from udfs.config import Config
from udfs.errors import StackError
from udfs.flink.gauges import UNITS
from udfs.io.flink_rest import FlinkRest

METRIC_GROUP = "adstream"   # the group every job function registers its counters under


def _start(lay: Layout, daemon: str) -> subprocess.Popen:
    script = "jobmanager.sh" if daemon == JOBMANAGER else "taskmanager.sh"
    with open(lay.out(daemon), "ab") as out:
        proc = subprocess.Popen(["bash", str(flink_home() / "bin" / script), "start-foreground"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=flink_env(lay), cwd=lay.root, start_new_session=True)
    lay.pidfile(daemon).write_text(str(proc.pid))
    return proc


def running(cfg: Config) -> dict[str, int]:
    """Daemon name → pid, for each daemon of ours that is alive."""
    lay = layout(cfg)
    out = {}
    for daemon in [JOBMANAGER, *taskmanager_names(cfg)]:
        pid = _read_pid(lay.pidfile(daemon))
        if _ours(pid, str(lay.conf)):
            out[daemon] = pid
    return out


def up(cfg: Config, progress=print) -> list[str]:
    """Start the JobManager and ``flink.cluster.taskmanagers`` TaskManagers; wait until registered."""
    c, lay = cfg.flink.cluster, layout(cfg)
    rest = FlinkRest(c.rest_url)
    alive = running(cfg)
    if JOBMANAGER in alive and rest.answers():
        ov = rest.overview()
        return [f"flink cluster already running on {c.rest_url} (jobmanager pid {alive[JOBMANAGER]}, "
                f"{ov.get('taskmanagers')} taskmanager(s), {ov.get('slots-total')} slots)"]
    for port in (c.rest_port, c.rpc_port):
        if _port_open(c.rest_host, port):
            raise StackError(f"port {port} on {c.rest_host} is taken by a process we did not start; "
                             "choose others with --set flink.cluster.rest_port=N / rpc_port=N")
    write_conf(cfg, lay)
    t0 = time.monotonic()
    procs = {JOBMANAGER: _start(lay, JOBMANAGER)}
    progress(f"jobmanager starting (pid {procs[JOBMANAGER].pid}), REST {c.rest_url}")
    for name in taskmanager_names(cfg):
        procs[name] = _start(lay, name)
        progress(f"{name} starting (pid {procs[name].pid})")
    _wait_registered(cfg, lay, rest, procs)
    return [f"flink cluster up on {c.rest_url} in {time.monotonic() - t0:.0f}s: "
            f"{c.taskmanagers} taskmanager(s) × {c.slots_per_taskmanager} slots; logs in {lay.log}"]


def _wait_registered(cfg: Config, lay: Layout, rest: FlinkRest, procs: dict[str, subprocess.Popen]) -> None:
    c = cfg.flink.cluster
    deadline = time.monotonic() + c.startup_timeout_s
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                down(cfg)
                raise StackError(f"{name} exited with code {proc.returncode} while starting; "
                                 f"{lay.out(name)}:\n{_tail(lay.out(name))}")
        if rest.answers() and rest.overview().get("taskmanagers", 0) >= c.taskmanagers:
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {lay.out(n)}\n{_tail(lay.out(n), 10)}" for n in procs)
    down(cfg)
    raise StackError(f"the cluster did not register {c.taskmanagers} taskmanager(s) on {c.rest_url} "
                     f"within {c.startup_timeout_s}s (flink.cluster.startup_timeout_s); stopped it:\n{tails}")


def down(cfg: Config) -> list[str]:
    """Stop the daemons ``up`` recorded, TaskManagers first, each by its pid."""
    lay = layout(cfg)
    names = sorted(p.stem for p in lay.root.glob("taskmanager-*.pid")) if lay.root.is_dir() else []
    out = [_stop(lay.pidfile(n), str(lay.conf), n) for n in [*names, JOBMANAGER]]
    for own in lay.root.glob("flink-*.pid"):   # flink-console.sh's own records of the same pids
        own.unlink()
    return out


def status(cfg: Config) -> dict:
    """What the REST API says: the overview, each TaskManager, each job (with a running job's
    own metrics), and where the Prometheus reporter serves; only the pids when it does not answer."""
    rest = FlinkRest(cfg.flink.cluster.rest_url)
    if not rest.answers():
        return {"answers": False, "pids": running(cfg)}
    jobs = rest.jobs()
    for job in jobs:
        if job.get("state") == "RUNNING":
            job["metrics"] = job_counters(rest, job["jid"])
    return {"answers": True, "pids": running(cfg), "overview": rest.overview(),
            "taskmanagers": rest.taskmanagers(), "jobs": jobs, "prometheus": prometheus_endpoints(cfg)}


def job_counters(rest: FlinkRest, job_id: str) -> dict[str, str]:
    """The jobs' own metrics (the ``adstream`` group: applied, dead letters by reason, fallbacks,
    …, and the freshness and latency gauges); ``operator.adstream.name`` → value. A counter is
    summed over the operator's subtasks, a gauge (its name ends in its unit) is the worst
    subtask's (max): a sum of freshnesses means nothing."""
    out: dict[str, str] = {}
    for v in rest.job(job_id).get("vertices", []):
        names = [n for n in rest.vertex_metrics(job_id, v["id"]) if f".{METRIC_GROUP}." in n]
        gauges = [n for n in names if n.endswith(UNITS)]
        counters = [n for n in names if n not in gauges]
        got = {**rest.vertex_metrics(job_id, v["id"], counters),
               **rest.vertex_metrics(job_id, v["id"], gauges, agg="max")}
        out.update((n, _number(got[n])) for n in sorted(got))
    return out


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# What the reporter logs once it serves (flink-metrics-prometheus 2.2.1, PrometheusReporter).
REPORTER_STARTED = re.compile(r"Started PrometheusReporter HTTP server on port (\d+)\.")


def reporter_port(log_text: str) -> int | None:
    """The port a daemon's Prometheus reporter last said it serves on (its ``.out`` is appended
    to by every start, so the last mention is the current one), None when it never did."""
    found = REPORTER_STARTED.findall(log_text)
    return int(found[-1]) if found else None


def prometheus_endpoints(cfg: Config) -> dict:
    """``flink.cluster.prometheus_ports`` and, for each daemon of ours that is alive, the port its
    reporter bound (from its log) if something listens there."""
    c, lay = cfg.flink.cluster, layout(cfg)
    bound = {}
    for daemon in running(cfg):
        try:
            port = reporter_port(lay.out(daemon).read_text(errors="replace"))
        except OSError:
            continue
        if port is not None and _port_open(c.rest_host, port):
            bound[daemon] = port
    return {"ports": c.prometheus_ports, "host": c.rest_host, "bound": bound}
