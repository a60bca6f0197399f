"""The profile benchmark's figures, and its ``--target cluster`` phases on a session cluster.

Each listed parallelism gets the MiniCluster's two phases again (throughput on a backlog,
freshness at a fixed rate) with the job submitted to the benchmark's own cluster
(``scripts/bench/cluster.py``) and cancelled after each phase. Each phase reads topics of its
own with ``cluster.topic_partitions`` partitions (≥ 2: a second source subtask with no partition
would read nothing), and its backlog's user ids carry the phase's tag, so a profile an earlier
phase stored never counts as landed. ``throughput`` and ``freshness`` are the entry point's own
functions, handed in (a library never imports the entry point on top of it).
"""
from __future__ import annotations

import uuid

import msgspec

from scripts.bench import cluster as C

THROUGHPUT_TIMEOUT_S = 600.0   # a backlog not landed by then is reported (NaN), not waited for

def phase_figures(tp: dict, fr: dict) -> dict:
    """The throughput and freshness figures under their JSON keys (docs/benchmarks.md)."""
    return {
        "throughput_eps": tp["throughput_eps"], "throughput_events": tp["events"],
        "throughput_users": tp["users"], "throughput_seconds": tp["seconds"],
        "throughput_verified_through_feast": tp["verified_through_feast"],
        "freshness_rate_eps": fr["rate_eps"], "freshness_p50_ms": fr["fresh_p50"],
        "freshness_p99_ms": fr["fresh_p99"], "freshness_probes": fr["probes"],
        "freshness_lost_probes": fr["lost_probes"], "freshness_warmup_s": fr["warmup_s"],
        "freshness_startup_catchup_s": fr["catchup_s"],
        "cpu_throughput": tp["cpu"], "cpu_freshness": fr["cpu"],
    }


def run(a, stack_cfg, sets: list[str], events: list, throughput, freshness, log) -> dict:
    """Every parallelism of ``a.parallelism`` on one cluster of the run's own; its figures."""
    parts = C.topic_partitions(a.parallelism)
    log(f"cluster phases: parallelism {a.parallelism}, every input topic with {parts} partitions")
    out: dict = {"topic_partitions": parts, "phases": {}}
    with C.own_cluster(a.env, [*C.stack_overrides(stack_cfg), *sets], a.parallelism, log) as cl:
        from udfs.io import feast_store
        feast_store.apply(cl.cfg)   # Feast's registry lives under paths.work_dir: the cluster's is new
        c = cl.cfg.flink.cluster
        out["layout"] = {"taskmanagers": c.taskmanagers, "slots_per_taskmanager": c.slots_per_taskmanager,
                         "python_execution_mode": cl.cfg.flink.python_execution_mode}
        roots = lambda _cfg: {**C.stack_pids(stack_cfg), **C.daemon_pids(cl.cfg)}  # noqa: E731
        for p in a.parallelism:
            out["phases"][f"p{p}"] = _one(a, cl, p, parts, events, (throughput, freshness), roots, log)
    return out


def _one(a, cl: C.Cluster, p: int, parts: int, events: list, fns, roots, log) -> dict:
    """One parallelism: the backlog's throughput, then freshness, each on a fresh submission."""
    throughput, freshness = fns
    tag = f"p{p}-{uuid.uuid4().hex[:6]}"
    cfg = cl.phase_cfg(p)
    mine = [msgspec.structs.replace(e, user_id=f"{tag}-{e.user_id}") for e in events]
    # A backlog spans days of event time, and its partitions are read at different paces: on
    # the first try 7,979 of 20,000 events went to dead letters as late, the watermark having
    # left a partition out once it was idle for profile.idle_timeout_ms (5 s: easily reached on
    # a loaded 2-core box while the other partition's records are worked off). An idle timeout
    # longer than the phase keeps the watermark the slowest partition's, so every event is
    # folded, as on the MiniCluster (one partition, read in order). The SQL interval of the
    # allowed lateness cannot hold a backlog's days (at most 99 s), so that stays as configured.
    # Freshness, at live event times, keeps the configured idle timeout.
    idle_ms = max(cfg.profile.idle_timeout_ms, int(THROUGHPUT_TIMEOUT_S * 1000))
    tcfg = cl.phase_cfg(p, [f"profile.idle_timeout_ms={idle_ms}"])
    submits: list[float] = []

    def launch(job_cfg):
        from jobs.profile import JOB
        job = C.ClusterJob(job_cfg, "jobs.profile", JOB)
        submits.append(job.submit_s)
        log(f"  p{p}: job {job.job_id} running ({job.submit_s:.0f} s from submission)")
        return lambda: log(f"  p{p}: job {job.job_id} {job.stop()}")

    log(f"cluster p{p}: throughput ({len(mine)} events) ...")
    tp = throughput(C.own_topic(tcfg, "clicks", f"clicks-{tag}", parts), mine, THROUGHPUT_TIMEOUT_S,
                    launch, roots)
    log(f"cluster p{p}: freshness at {a.rate:.0f}/s ...")
    fr = freshness(C.own_topic(cfg, "clicks", f"fresh-{tag}", parts), a.rate, a.duration, a.warmup,
                   launch, roots)
    return {**phase_figures(tp, fr), "parallelism": p, "topic_partitions": parts, "submit_s": submits,
            "throughput_idle_timeout_ms": idle_ms}


def figures(local: dict, cl: dict) -> dict:
    """The ``--target cluster`` keys: the MiniCluster's and each parallelism's, side by side."""
    ph = cl["phases"]
    at = lambda p: ph.get(f"p{p}", {}).get("throughput_eps")  # noqa: E731
    return {"target": "cluster", "local": local, "cluster": ph,
            "cluster_topic_partitions": cl["topic_partitions"], "cluster_layout": cl.get("layout"),
            "scaling_efficiency_1_to_2": C.scaling_efficiency(at(1), at(2))}


def rows(fig: dict) -> list[tuple[str, str]]:
    """The printed table's lines for the cluster phases and their CPU split."""
    out = [("cluster", f"{fig['cluster_layout']}; input topics with {fig['cluster_topic_partitions']} "
                       "partitions (the MiniCluster's: 1); throughput phases with "
                       "profile.idle_timeout_ms longer than the phase")]
    for name, f in [("local (MiniCluster)", fig["local"]), *fig["cluster"].items()]:
        out.append((f"{name}: throughput / freshness p50, p99",
                    f"{f['throughput_eps']:.0f} events/s ({f['throughput_seconds']:.1f} s) / "
                    f"{f['freshness_p50_ms']:.0f}, {f['freshness_p99_ms']:.0f} ms"))
        for phase in ("throughput", "freshness"):
            cpu = f[f"cpu_{phase}"]
            split = ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in cpu.items() if k.endswith("_cores"))
            out.append((f"{name}: cores during {phase}", split or "(not measured)"))
    eff = fig["scaling_efficiency_1_to_2"]
    out.append(("scaling efficiency 1 → 2 (throughput p2 / 2×p1)", "n/a" if eff is None else f"{eff:.2f}"))
    return out
