"""Flink environment from configuration: jars, Python workers, checkpointing, latency knobs.

Everything comes from ``cfg.flink`` / ``cfg.jars``; nothing here names a host, port
or path. ``table_env(cfg)`` is what every job starts from. A job runs on Flink's embedded
local mini-cluster inside this process, or — started by ``flink run`` (``jobs/submit.py``,
``cluster=True``) — on a session cluster, where the cluster owns its jars, state backend and
memory and the workers' Python comes from the submission (docs/cluster.md).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from udfs.config import ROOT, Config
from udfs.errors import StackError


def uri(path_or_uri: str) -> str:
    """A directory setting as Flink wants it: a URI (``s3://…``, ``file:///…``) as written, a
    path as ``file://``. A config path is absolute already (the loader resolved it); a
    command-line one (``--dir sp``) is relative to the working directory, as the user meant."""
    p = path_or_uri.rstrip("/")
    return p if "://" in p else Path(p).absolute().as_uri()


def flink_settings(cfg: Config, job_name: str, cluster: bool = False) -> dict[str, str]:
    """The job's Flink settings. ``cluster``: started by ``flink run`` on a session cluster, which
    has the connector in its lib/ (in ``pipeline.jars`` too it would be loaded twice), its own
    state backend (RocksDB) and memory, and gets the workers' Python from the submission."""
    f = cfg.flink
    jar = cfg.jar_path("flink_connector")
    if not jar.exists() and not cluster:
        raise StackError(f"Flink Kafka connector jar missing: {jar} — run `make setup`")
    local = {"pipeline.jars": jar.resolve().as_uri(),
             "python.executable": sys.executable,
             "python.client.executable": sys.executable,
             "state.backend.type": f.state_backend,
             "taskmanager.memory.managed.size": f"{f.managed_memory_mb}m"}
    return {
        "pipeline.name": job_name,
        **({} if cluster else local),
        "parallelism.default": str(f.parallelism),
        # Explicit, not derived from the parallelism: a restore needs the same key groups.
        "pipeline.max-parallelism": str(f.max_parallelism),
        "python.execution-mode": f.python_execution_mode,
        "python.fn-execution.bundle.size": str(f.bundle_size),
        "python.fn-execution.bundle.time": str(f.bundle_time_ms),
        "execution.buffer-timeout.interval": f"{f.buffer_timeout_ms} ms",
        "execution.checkpointing.interval": f"{f.checkpoint_interval_ms} ms",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.dir": f"{uri(f.checkpoint_dir)}/{job_name}",
        "execution.state-recovery.ignore-unclaimed-state": str(f.allow_unclaimed_state).lower(),
        # An idle partition must not hold back event time for everyone else.
        "table.exec.source.idle-timeout": f"{cfg.profile.idle_timeout_ms} ms",
        **restart_settings(cfg),
    }


def restart_settings(cfg: Config) -> dict[str, str]:
    """A bounded restart strategy: a task that fails again and again ends the job as FAILED
    (the CLI then exits non-zero with the reason) instead of replaying one checkpoint forever."""
    f = cfg.flink
    if f.restart_strategy == "fixed-delay":
        return {"restart-strategy.type": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": str(f.restart_attempts),
                "restart-strategy.fixed-delay.delay": f"{f.restart_delay_ms} ms"}
    return {"restart-strategy.type": "exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff": f"{f.restart_delay_ms} ms",
            "restart-strategy.exponential-delay.max-backoff": f"{f.restart_max_delay_ms} ms",
            "restart-strategy.exponential-delay.attempts-before-reset-backoff": str(f.restart_attempts)}


def _prepare_thread_mode() -> None:
    """Thread mode embeds CPython in the JVM (pemja), which must find this venv's packages.

    The JVM is launched by PyFlink's gateway and inherits our environment, so this must
    run before the first PyFlink call that starts it.
    """
    import os
    import sysconfig
    site = sysconfig.get_paths()["purelib"]
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if site not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([site, str(ROOT), *paths])


def table_env(cfg: Config, job_name: str, extra: dict[str, str] | None = None, cluster: bool = False):
    """A ``StreamTableEnvironment`` (and its ``StreamExecutionEnvironment``) set up from config.

    ``cluster``: inside ``flink run``, whose PythonDriver already runs the gateway JVM."""
    if not cluster:
        _prepare_thread_mode()
        from jobs.logs import launch_gateway
        launch_gateway(cfg, job_name)   # before PyFlink starts it with stderr on a pipe
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    conf = Configuration()
    for k, v in {**flink_settings(cfg, job_name, cluster), **(extra or {})}.items():
        conf.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    tenv = StreamTableEnvironment.create(env, environment_settings=settings)
    return env, tenv


def keyed_by_first_column(tenv, table, key_type, value_type):
    """Table(key, value) — or a list of them — → a KeyedStream of the values, keyed by the first
    column in the JVM.

    PyFlink's ``key_by`` runs the key selector in a Python operator of its own: one more
    JVM ↔ Python crossing per record, which cost the scoring job 0.38 ms of CPU per request
    (docs/benchmarks.md). This builds what ``key_by`` builds after that operator — a stream
    of Row(key, value) keyed by PyFlink's own ``KeyByKeySelector`` on field 0 — so a key that
    SQL can compute never enters Python.
    """
    from pyflink.common import Types
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway
    # Several tables: each converted on its own, then the streams united. A SQL ``UNION ALL``
    # before one conversion puts a two-input conversion task between the sources and the keyed
    # step (two inputs never chain): one more serialisation and thread hand-off per record.
    tables = table if isinstance(table, (list, tuple)) else [table]
    row = Types.ROW([key_type, value_type])
    streams = [tenv.to_append_stream(t, row) for t in tables]
    pairs = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
    j_keyed = pairs._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(),
                                         Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, pairs)


def kafka_table_options(cfg: Config, topic: str, *, group: str | None = None,
                        bounded: bool = False, fmt: str = "raw", startup: str = "earliest-offset",
                        extra: dict[str, str] | None = None) -> str:
    """The WITH (...) clause of a Kafka SQL table for one configured topic (``extra`` adds/overrides)."""
    opts = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": cfg.kafka.bootstrap,
        "format": fmt,
        "scan.startup.mode": startup,
        # Java producers in Kafka 4 default to linger 5 ms; request/response traffic wants 0.
        "properties.linger.ms": str(cfg.kafka.linger_ms),
        "properties.acks": cfg.kafka.acks,
    }
    if group:
        opts["properties.group.id"] = group
        opts["properties.isolation.level"] = "read_committed"
    if bounded:
        opts["scan.bounded.mode"] = "latest-offset"
    opts.update(extra or {})
    return ",\n  ".join(f"'{k}' = '{v}'" for k, v in opts.items())


def latest_checkpoint(cfg: Config, job_name: str) -> str | None:
    """Newest retained checkpoint of a job (``<checkpoint_dir>/<job>/<job-id>/chk-N``), or None.

    Only a local directory (a path or ``file://``) can be scanned; for an object store
    (``s3://…``) the path must be given (``--from-checkpoint``/``--from-savepoint``)."""
    ckpt = cfg.flink.checkpoint_dir
    if "://" in ckpt and not ckpt.startswith("file://"):
        raise StackError(f"--resume scans for the newest checkpoint only in a local directory (file://); "
                         f"flink.checkpoint_dir is {ckpt}: pass --from-checkpoint URI (a chk-N directory "
                         f"there) or --from-savepoint URI instead")
    root = Path(ckpt.removeprefix("file://")) / job_name
    found = [p for p in root.glob("*/chk-*") if (p / "_metadata").exists()]
    return str(max(found, key=lambda p: p.stat().st_mtime)) if found else None


def add_restore_args(p) -> None:
    """``--resume`` / ``--from-checkpoint PATH`` for a job's subcommand."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true",
                   help="restore from the newest retained checkpoint, if there is one")
    g.add_argument("--from-checkpoint", metavar="PATH", help="restore from this checkpoint (chk-N dir)")
    g.add_argument("--from-savepoint", metavar="PATH",
                   help="restore from this savepoint (what `adstream job savepoint|stop` printed)")


URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")   # file:/…, s3://…: a location as Flink prints it


def restore_path(cfg: Config, job_name: str, args) -> str | None:
    restore = (args.from_checkpoint or args.from_savepoint
               or (latest_checkpoint(cfg, job_name) if args.resume else None))
    if restore and not URI_SCHEME.match(restore):
        # A command-line path is the user's working directory's; on a cluster the JobManager
        # would read it from its own (the cluster's work folder), so it goes on absolute.
        restore = str(Path(restore).absolute())
    if restore:
        print(f"restoring from {restore}", flush=True)
    return restore


def run_until_interrupted(client, label: str, cfg: Config, job_name: str) -> int:
    """Block on a submitted job, reporting restarts; non-zero exit when it fails. Ctrl-C cancels it."""
    from jobs.watch import watch
    try:
        return watch(client, label, cfg.flink.status_poll_ms, cfg.log_dir(job_name))
    except KeyboardInterrupt:
        client.cancel().result()
        raise
