"""The scoring benchmark's ``--target cluster`` phases: the sweep (and rate search) per parallelism.

The scoring job with the scoring settings is submitted to the benchmark's own session cluster
(``scripts/bench/cluster.py``) the way ``adstream job scoring --target cluster`` does, once per
``--parallelism``, warmed up like the MiniCluster's job, measured at every ``--sweep`` rate (and
by the rate search unless ``--no-search``), and cancelled through the REST API. Its request and
response topics have ``cluster.topic_partitions`` partitions. The floors' no-op topologies and
the variants are the MiniCluster's only (they are built in this process, not job modules a user
submits).

Scaling efficiency of the scoring job (``scaling_efficiency_1_to_2``): the highest rate with
p99 ≤ 50 ms and every request answered, at parallelism 2, over twice that at parallelism 1.
When p2's highest passing rate is the highest rate it was tried at, the true one may be higher
and the figure is a lower bound (``scaling_efficiency_capped``). Beside it,
``cpu_per_request_ratio_1_to_2``: the job's CPU ms per request at the headline rate, p2 over p1
(above 1: the second subtask costs CPU per request, as well as adding cores).
"""
from __future__ import annotations

from scripts.bench import cluster as C
from scripts.bench import scoring_report as R
from scripts.bench.scoring_jobrun import JobRun


class ClusterJobRun(JobRun):
    """A ``JobRun`` whose job runs on the session cluster (its JobManager and TaskManager JVMs)."""

    def __init__(self, cl: C.Cluster, parallelism: int, partitions: int, name: str, world, pids, **kw):
        self.cluster, self.job = cl, None
        sets = [*cl.sets, f"flink.parallelism={parallelism}",
                f"kafka.topics.ad_requests.partitions={partitions}",
                f"kafka.topics.ranked_ads.partitions={partitions}"]
        super().__init__(sets, cl.env, name, world, pids, **kw)

    def _launch(self, echo: bool, lean: bool):
        from jobs.scoring import JOB
        if echo:
            raise ValueError("the no-op topologies run on the MiniCluster only")
        self.job = C.ClusterJob(self.cfg, "jobs.scoring", JOB)
        return self.job

    def roots(self) -> dict[str, int | None]:
        parts = {k: v for k, v in super().roots().items() if k != "job"}
        return {**parts, **C.daemon_pids(self.cluster.cfg)}

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.job is not None:
            print(f"[bench] cluster job {self.job.job_id}: {self.job.stop(timeout_s)}", flush=True)
        self.responses.close()


def summarise(a, res: dict) -> dict:
    """One job's figures (MiniCluster or one parallelism), the same keys for each."""
    head = res["rates"][a.rate]
    return {"rates": {str(int(r)): {k: s[k] for k in R.HEAD_KEYS} for r, s in res["rates"].items()},
            "search": [{k: s[k] for k in R.HEAD_KEYS} for s in res["search"]],
            "max_rate_p99_20ms": res["max_rate_p99_20ms"], "max_rate_p99_50ms": res["max_rate_p99_50ms"],
            "highest_rate_tried": max(s["rate_rps"] for s in [*res["rates"].values(), *res["search"]]),
            "headline": {k: head[k] for k in R.HEAD_KEYS},
            "job_cpu_ms_per_request": head["cpu"].get("job_cpu_ms_per_request"),
            "cpu_by_phase": {k: s["cpu"] for k, s in res["phases"].items()},
            "cpu_threads_by_phase": res["cpu"],   # CpuMeter: processes and the busiest JVM threads
            "job_startup_s": res.get("startup"), "warmup": res["warm"].get("job")}


def scaling(p1: dict | None, p2: dict | None) -> dict:
    """The scaling keys from two ``summarise`` results (None where one is missing)."""
    if not p1 or not p2:
        return {"scaling_efficiency_1_to_2": None, "scaling_efficiency_capped": None,
                "cpu_per_request_ratio_1_to_2": None}
    eff = C.scaling_efficiency(p1["max_rate_p99_50ms"], p2["max_rate_p99_50ms"])
    c1, c2 = p1.get("job_cpu_ms_per_request"), p2.get("job_cpu_ms_per_request")
    return {"scaling_efficiency_1_to_2": eff,
            "scaling_efficiency_capped": (None if eff is None
                                          else p2["max_rate_p99_50ms"] >= p2["highest_rate_tried"]),
            "cpu_per_request_ratio_1_to_2": (c2 / c1 if c1 and c2 else None)}


def run(a, base: list[str], world, pids, scoring_runs, log) -> dict:
    """Every parallelism on one cluster of the run's own; ``scoring_runs`` is the entry
    point's sweep-and-search over one job (handed in: a library never imports it)."""
    parts = C.topic_partitions(a.parallelism)
    log(f"cluster phases: parallelism {a.parallelism}, request and response topics with {parts} partitions")
    out: dict = {"topic_partitions": parts, "phases": {}}
    with C.own_cluster(a.env, base, a.parallelism, log) as cl:
        daemons = C.daemon_pids(cl.cfg)
        pids.set(flink_cluster=daemons, cluster_dir=str(cl.cfg.path("work_dir")))
        c = cl.cfg.flink.cluster
        out["layout"] = {"taskmanagers": c.taskmanagers, "slots_per_taskmanager": c.slots_per_taskmanager,
                         "python_execution_mode": cl.cfg.flink.python_execution_mode, "pids": daemons}
        for p in a.parallelism:
            res: dict = {"phases": {}, "cpu": {}, "warm": {}}

            def mk(name, _p=p, **kw):
                return ClusterJobRun(cl, _p, parts, f"p{_p}-{name}", world, pids, **kw)
            log(f"cluster p{p} ...")
            scoring_runs(a, mk, res, log)
            out["phases"][f"p{p}"] = {**summarise(a, res), "parallelism": p, "topic_partitions": parts}
    return out


def figures(a, local_res: dict, cl: dict) -> dict:
    """The ``--target cluster`` keys: ``local``, ``cluster`` {p1, p2, …}, the scaling figures."""
    ph = cl["phases"]
    return {"target": "cluster", "local": {**summarise(a, local_res), "parallelism": 1},
            "cluster": ph, "cluster_topic_partitions": cl["topic_partitions"],
            "cluster_layout": cl["layout"], **scaling(ph.get("p1"), ph.get("p2"))}


def rows(fig: dict) -> list[tuple[str, str]]:
    out = [("cluster", f"{fig['cluster_layout']['taskmanagers']} taskmanager(s) × "
                       f"{fig['cluster_layout']['slots_per_taskmanager']} slots; request/response topics "
                       f"with {fig['cluster_topic_partitions']} partitions (the MiniCluster's: 1)")]
    for name, f in [("local (MiniCluster)", fig["local"]), *fig["cluster"].items()]:
        h = f["headline"]
        out.append((f"{name} @ {h['rate_rps']:.0f}/s", f"p50 {h['p50_ms']:.2f}  p99 {h['p99_ms']:.2f} ms  "
                                                      f"answered {h['answered']}/{h['sent']}; max rate p99 ≤ 50 ms: "
                                                      f"{f['max_rate_p99_50ms']}"))
        for tag, cpu in f["cpu_by_phase"].items():
            split = ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in cpu.items() if k.endswith("_cores"))
            out.append((f"{name} cores {tag}", f"{split}; job {cpu['job_cpu_ms_per_request']:.2f} ms/request"))
    for key in ("scaling_efficiency_1_to_2", "scaling_efficiency_capped", "cpu_per_request_ratio_1_to_2"):
        v = fig[key]
        out.append((key, "n/a" if v is None else (str(v) if isinstance(v, bool) else f"{v:.2f}")))
    return out
