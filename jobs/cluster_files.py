"""The files of a Flink session cluster that both its daemons and the ``flink run`` client read.

``<paths.work_dir>/flink/`` holds

- ``conf/config.yaml``: the wheel's own (its JVM ``--add-opens`` flags) overlaid with ours —
  loopback addresses and ports, slots and process memory from ``flink.cluster``, RocksDB with
  incremental checkpoints, checkpoint and savepoint directories as URIs, the restart strategy
  of ``flink.restart_*`` (a job that cannot start must not restart forever);
- ``lib/``: links to the wheel's ``lib/*.jar``, ``opt/flink-python-*.jar`` (thread mode: a second
  Python job on one TaskManager otherwise fails loading pemja's native library) and the Kafka
  connector (``jars.flink_connector``: in the job's ``pipeline.jars`` as well it would be loaded
  twice; the ``flink run`` client needs it too, to plan the Kafka tables);
- ``log/``: the daemons' logs; ``*.pid``: the pids ``adstream flink down`` stops.

The conf also names Flink's Prometheus reporter (``flink.cluster.prometheus_ports``): each
daemon serves its metrics, the jobs' ``adstream`` group among them, on the first free port of
that range.

The ``apache-flink`` wheel is the distribution (``flink-dist`` is not on Maven Central).
Written by ``scripts/flinkctl`` (``adstream flink up``) and by a submission that finds none.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.common import restart_settings, uri
from udfs.config import Config
from udfs.errors import StackError


def flink_home() -> Path:
    """The pinned PyFlink wheel's Flink distribution (its bin/, lib/, opt/, conf/, plugins/)."""
    import importlib.util
    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("apache-flink is not installed in this Python: run `make setup`")
    return Path(list(spec.submodule_search_locations)[0])


JOBMANAGER = "jobmanager"


@dataclass(frozen=True)
class Layout:
    """Where one cluster's generated files live (``<paths.work_dir>/flink``)."""
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def log(self) -> Path:
        return self.root / "log"

    def pidfile(self, daemon: str) -> Path:
        return self.root / f"{daemon}.pid"

    def out(self, daemon: str) -> Path:
        return self.log / f"{daemon}.out"


def layout(cfg: Config) -> Layout:
    return Layout(cfg.path("work_dir") / "flink")


def taskmanager_names(cfg: Config) -> list[str]:
    return [f"taskmanager-{i}" for i in range(cfg.flink.cluster.taskmanagers)]


def cluster_settings(cfg: Config, lay: Layout) -> dict[str, str]:
    """Our keys of the generated ``config.yaml`` (flat keys: Flink 2 reads them as nested ones)."""
    c, f = cfg.flink.cluster, cfg.flink
    return {
        "jobmanager.rpc.address": c.rest_host, "jobmanager.rpc.port": str(c.rpc_port),
        "jobmanager.bind-host": c.rest_host,
        "rest.address": c.rest_host, "rest.bind-address": c.rest_host, "rest.port": str(c.rest_port),
        "taskmanager.host": c.rest_host, "taskmanager.bind-host": c.rest_host,
        "taskmanager.numberOfTaskSlots": str(c.slots_per_taskmanager),
        "jobmanager.memory.process.size": f"{c.jobmanager_memory_mb}m",
        "taskmanager.memory.process.size": f"{c.taskmanager_memory_mb}m",
        "taskmanager.memory.managed.size": f"{f.managed_memory_mb}m",
        "parallelism.default": str(f.parallelism),
        "state.backend.type": "rocksdb",
        "execution.checkpointing.incremental": "true",
        "execution.checkpointing.dir": uri(f.checkpoint_dir),
        "execution.checkpointing.savepoint-dir": uri(c.savepoint_dir),
        "env.pid.dir": str(lay.root),
        **restart_settings(cfg),
        **prometheus_settings(cfg),
    }


PROMETHEUS = "prom"   # the reporter's name in metrics.reporter.<name>.*


def prometheus_settings(cfg: Config) -> dict[str, str]:
    """Flink's Prometheus reporter (the wheel's plugins/metrics-prometheus, found through
    FLINK_PLUGINS_DIR) on ``flink.cluster.prometheus_ports``; none when that is ""."""
    ports = cfg.flink.cluster.prometheus_range
    if ports is None:
        return {}
    key = f"metrics.reporter.{PROMETHEUS}"
    return {f"{key}.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
            f"{key}.port": f"{ports[0]}-{ports[1]}"}


def write_conf(cfg: Config, lay: Layout) -> None:
    """Generate conf/ and lib/ (idempotent: rewritten on every ``up``)."""
    home = flink_home()
    connector = cfg.jar_path("flink_connector")
    if not connector.exists():
        raise StackError(f"Flink Kafka connector jar missing: {connector} — run `make setup`")
    python_jars = sorted((home / "opt").glob("flink-python-*.jar"))
    if not python_jars:
        raise StackError(f"no flink-python jar in {home / 'opt'}: reinstall apache-flink (`make setup`)")
    for d in (lay.conf, lay.lib, lay.log):
        d.mkdir(parents=True, exist_ok=True)
    for old in lay.lib.iterdir():
        old.unlink()
    for jar in [*sorted((home / "lib").glob("*.jar")), python_jars[0], connector.resolve()]:
        (lay.lib / jar.name).symlink_to(jar)
    for src in (home / "conf").iterdir():   # log4j/logback files the daemons' scripts name
        if src.suffix in (".properties", ".xml"):
            (lay.conf / src.name).write_bytes(src.read_bytes())
    wheel = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
    java_opts = wheel.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
    settings = {"env.java.opts.all": java_opts, **cluster_settings(cfg, lay)}
    header = "# Generated by `adstream flink up` from conf/*.yaml (flink, flink.cluster): edits are overwritten.\n"
    (lay.conf / "config.yaml").write_text(header + yaml.safe_dump(settings, sort_keys=True))
    (lay.conf / "masters").write_text(f"{cfg.flink.cluster.rest_address}\n")
    (lay.conf / "workers").write_text("".join(f"{cfg.flink.cluster.rest_host}\n" for _ in taskmanager_names(cfg)))


def flink_env(lay: Layout) -> dict[str, str]:
    """The environment of Flink's bin/ scripts (daemons and ``flink run``) for this cluster."""
    home = flink_home()
    return {**os.environ, "FLINK_CONF_DIR": str(lay.conf), "FLINK_LIB_DIR": str(lay.lib),
            "FLINK_LOG_DIR": str(lay.log), "FLINK_PID_DIR": str(lay.root),
            "FLINK_PLUGINS_DIR": str(home / "plugins")}
