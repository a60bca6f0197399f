"""``--target cluster`` of the benchmarks: a standalone session cluster of their own, jobs on it.

``scripts/bench_profile.py`` and ``scripts/bench_scoring.py`` measure the MiniCluster first (as
with ``--target local``), then start a session cluster of their own (``scripts.flinkctl.control.up``
on a config whose REST and RPC ports are free ones picked here and whose ``paths.work_dir`` is
a temp dir of its own: other people's clusters and tests on the same box are never touched),
submit the job the way a user does (``jobs.submit.submit``, i.e. ``adstream job NAME --target
cluster``) once per parallelism, cancel it through the REST API after each phase, and stop the
daemons by pid at the end, also when a signal unwinds the run (the caller is inside
``common.own_stack``, which turns SIGTERM/SIGHUP into an exception).

The pure parts (``parse_parallelism``, ``scaling_efficiency``, ``topic_partitions``,
``slots_needed``) are unit-tested in tests/unit/test_bench_cluster.py.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
import time
from typing import Iterator, NamedTuple, Sequence

from scripts.bench import common as benchlib
from udfs import config
from udfs.config import Config
from udfs.errors import StackError

TERMINAL = ("CANCELED", "FAILED", "FINISHED")


def parse_parallelism(text: str) -> list[int]:
    """``"1,2"`` → ``[1, 2]``: distinct, ascending, each at least 1 (an argparse ``type``)."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ValueError(f"--parallelism takes comma-separated whole numbers, not {text!r}") from None
    if not values or values[0] < 1:
        raise ValueError(f"--parallelism needs one or more numbers ≥ 1, not {text!r}")
    return values


def scaling_efficiency(at_1: float | None, at_2: float | None) -> float | None:
    """``figure(p2) / (2 × figure(p1))`` for a figure where more is better (events/s, requests/s).

    1.0: twice the parallelism gave twice the figure; 0.5: it gave nothing more. None when
    either figure is missing, not a number, or p1's is not positive (nothing to scale from)."""
    if at_1 is None or at_2 is None or math.isnan(at_1) or math.isnan(at_2) or at_1 <= 0:
        return None
    return at_2 / (2.0 * at_1)


def topic_partitions(parallelisms: Sequence[int]) -> int:
    """Partitions of the cluster phases' input topics: at least 2, and at least the highest
    parallelism (a Kafka source subtask without a partition reads nothing), the same for every
    parallelism so the phases differ in one thing only."""
    return max(2, *parallelisms)


def slots_needed(parallelisms: Sequence[int], taskmanagers: int, configured_slots: int) -> int:
    """Slots per TaskManager so that the highest parallelism fits (a job's operators share a slot
    per subtask); never fewer than configured."""
    return max(configured_slots, math.ceil(max(parallelisms) / max(taskmanagers, 1)))


def add_target_args(p: argparse.ArgumentParser) -> None:
    """``--target`` and ``--parallelism``, the same on every benchmark that has them."""
    p.add_argument("--target", choices=("local", "cluster"), default="local",
                   help="local: the MiniCluster only (as before); cluster: the MiniCluster's figures, "
                        "then the same figures on a standalone session cluster this run starts on free "
                        "ports (and stops), once per --parallelism")
    p.add_argument("--parallelism", type=_parallelism_arg, default=None, metavar="LIST",
                   help="with --target cluster: comma-separated parallelisms, each measured on the "
                        "cluster (default 1,2); the MiniCluster runs at flink.parallelism")


def _parallelism_arg(text: str) -> list[int]:
    try:
        return parse_parallelism(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_target_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """``--parallelism`` belongs to ``--target cluster``; there it defaults to 1 and 2."""
    if a.target == "local" and a.parallelism is not None:
        p.error("--parallelism needs --target cluster (the MiniCluster runs at flink.parallelism: "
                "--set flink.parallelism=N)")
    if a.target == "cluster" and a.parallelism is None:
        a.parallelism = [1, 2]


def stack_pids(cfg: Config) -> dict[str, int | None]:
    """The CPU split's parts outside Flink: this process (the load generator), broker, Redis."""
    from scripts.stack.control import pid_of
    return {"loadgen": os.getpid(), "broker": pid_of(cfg, "kafka"), "redis": pid_of(cfg, "redis")}


def stack_overrides(cfg: Config) -> list[str]:
    """What a config for the cluster needs of the benchmark's stack: its Kafka and Redis ports."""
    return [f"kafka.port={cfg.kafka.port}", f"kafka.controller_port={cfg.kafka.controller_port}",
            f"redis.port={cfg.redis.port}"]


class Cluster(NamedTuple):
    cfg: Config            # the cluster's config (its ports, its work dir, the stack's ports)
    sets: list[str]        # the overrides that made it, for each phase's config to start from
    env: str

    def phase_cfg(self, parallelism: int, extra: Sequence[str] = ()) -> Config:
        """The cluster's config with the job's ``flink.parallelism`` (and ``extra``) set."""
        return config.load(self.env, overrides=[*self.sets, f"flink.parallelism={parallelism}", *extra])


@contextlib.contextmanager
def own_cluster(env: str, overrides: Sequence[str], parallelisms: Sequence[int], log) -> Iterator[Cluster]:
    """A session cluster on free ports with its files in a temp dir of its own; stopped by pid.

    ``overrides``: the stack's ports and the run's own settings (``--set``), applied before the
    cluster's, so a run's ``--set flink.cluster.taskmanagers=2`` shapes the cluster too."""
    from scripts.flinkctl import control
    with tempfile.TemporaryDirectory(prefix="adstream-bench-flink-") as d:
        rest_port, rpc_port = benchlib.free_ports(2)
        sets = [*overrides, f"paths.work_dir={d}", f"flink.checkpoint_dir={d}/ckpt",
                f"flink.cluster.savepoint_dir={d}/savepoints",
                f"flink.cluster.rest_port={rest_port}", f"flink.cluster.rpc_port={rpc_port}"]
        c = config.load(env, overrides=sets).flink.cluster
        sets.append(f"flink.cluster.slots_per_taskmanager="
                    f"{slots_needed(parallelisms, c.taskmanagers, c.slots_per_taskmanager)}")
        cfg = config.load(env, overrides=sets)
        try:
            for line in control.up(cfg, progress=log):
                log(line)
            yield Cluster(cfg, sets, env)
        finally:
            # also when up() failed half-way or a signal unwound the run: whatever it started
            for line in control.down(cfg):
                log(f"[bench] flink {line}")


def own_topic(cfg: Config, key: str, name: str, partitions: int) -> Config:
    """``cfg`` with ``kafka.topics.<key>`` renamed to ``name`` with ``partitions``, created."""
    from scripts.stack.control import create_topics
    d = config.to_dict(cfg)
    topics = d["kafka"]["topics"]
    d["kafka"] = {**d["kafka"], "topics": {**topics, key: {**topics[key], "name": name,
                                                           "partitions": partitions, "compacted": False}}}
    out = config.from_dict(d)
    create_topics(out)
    return out


def daemon_pids(cfg: Config) -> dict[str, int]:
    """``jobmanager`` / ``taskmanager-N`` → the JVM pid in the cluster's pid files (alive, ours)."""
    from scripts.flinkctl.control import running
    return running(cfg)


class ClusterJob:
    """One job on the cluster: submitted as a user does, cancelled through the REST API.

    On a loaded 2-core box the JobManager's REST API has let a call pass its 5 s timeout while
    ``submit`` followed a job it had submitted (2026-12-03): a call that times out is retried
    here (``RETRIES``) instead of ending the run with the job left on the cluster."""

    RETRIES = 12

    def __init__(self, cfg: Config, module: str, job_name: str, args: Sequence[str] = ()):
        from jobs import submit
        from jobs.savepoints import find_job
        from udfs.io.flink_rest import FlinkRest
        self.rest, self.job_id = FlinkRest(cfg.flink.cluster.rest_url), None
        t0 = time.monotonic()
        try:
            if submit.submit(cfg, module, job_name, list(args), None) != 0:
                raise StackError(f"{job_name} did not start on the cluster (see its TaskManager log)")
        except StackError as e:
            if "does not answer" not in str(e):
                raise
            print(f"[bench] {e}; looking for the submitted job again", flush=True)
        self.job_id = self._retry(lambda: find_job(self.rest, job_name.removeprefix("adstream-")))
        self.submit_s = round(time.monotonic() - t0, 1)

    def _retry(self, call):
        for i in range(self.RETRIES):
            try:
                return call()
            except StackError:
                if i == self.RETRIES - 1:
                    raise
                time.sleep(5.0)

    def stop(self, timeout_s: float = 60.0) -> str:
        """Cancel (REST ``PATCH /jobs/<id>?mode=cancel``) and wait until the job has ended, so the
        next phase gets its slots; returns the final state."""
        if self.job_id is None:
            return "not started"
        state = self._retry(lambda: self.rest.job(self.job_id).get("state"))
        if state not in TERMINAL:
            self._retry(lambda: self.rest.cancel(self.job_id))
        deadline = time.monotonic() + timeout_s
        while state not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            state = self._retry(lambda: self.rest.job(self.job_id).get("state"))
        return state
