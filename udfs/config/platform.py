"""The shared runtime's sections: topics, Kafka, Redis, paths, jars, Flink, dead letters, logs, event-time bounds.

Read by every job, the local stack (``scripts/stack``) and the CLI; pure dataclasses like
every section (``udfs.config.schema`` assembles them into :class:`Config`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from udfs.errors import ConfigError


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = 1
    compacted: bool = False

@dataclass(frozen=True)
class Topics:
    clicks: Topic
    ad_requests: Topic
    ranked_ads: Topic
    served_log: Topic
    training_log: Topic
    impressions: Topic
    ad_clicks: Topic
    conversions: Topic
    dead_letter: Topic
    erasure: Topic
    erasure_audit: Topic
    catalog: Topic

    def all(self) -> list[Topic]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

@dataclass(frozen=True)
class Kafka:
    host: str
    port: int
    controller_port: int
    heap_mb: int
    topics: Topics
    linger_ms: int = 0
    acks: str = "1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

@dataclass(frozen=True)
class Redis:
    host: str
    port: int
    db: int = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

@dataclass(frozen=True)
class Paths:
    work_dir: str
    jars_dir: str
    data_dir: str
    model_registry: str
    retrain_runs: str

    def resolve(self, name: str) -> Path:
        return Path(getattr(self, name))   # made absolute by the loader (PATH_KEYS)

@dataclass(frozen=True)
class Jars:
    kafka_dir: str
    flink_connector: str

@dataclass(frozen=True)
class FlinkCluster:
    """The local standalone session cluster (``adstream flink up``) and ``--target cluster``
    submission to it (docs/cluster.md). Ports are loopback unless ``rest_host`` says otherwise."""
    rest_host: str = "127.0.0.1"
    rest_port: int = 8081
    rpc_port: int = 6123
    taskmanagers: int = 1
    slots_per_taskmanager: int = 2
    # Process sizes (heap, metaspace, network, managed: Flink splits them); a TaskManager also
    # hosts the thread-mode Python of its tasks, so it gets the larger share.
    jobmanager_memory_mb: int = 1024
    taskmanager_memory_mb: int = 1728
    savepoint_dir: str = ".work/savepoints"   # a path or a URI (file://, s3://)
    startup_timeout_s: int = 120              # `up` waits this long for every TaskManager
    submit_timeout_s: int = 300               # `flink run -d` must have handed the job over by then
    # The Python the workers run (-pyexec) and the site-packages thread mode embeds (-pypath);
    # "" = the interpreter and venv of the submitting `adstream` (right when the workers share
    # this machine's disk; a remote cluster names its own).
    python_executable: str = ""
    python_path: str = ""
    # Flink's Prometheus reporter: "LOW-HIGH" (or one port), a range because the JobManager and
    # every TaskManager each bind the first free port of it; "" = no reporter.
    prometheus_ports: str = "9249-9259"

    @property
    def prometheus_range(self) -> tuple[int, int] | None:
        """(low, high) of ``prometheus_ports``, both included; None when the reporter is off."""
        text = self.prometheus_ports.strip()
        if not text:
            return None
        low, _, high = text.partition("-")
        try:
            lo, hi = int(low), int(high or low)
        except ValueError:
            raise ConfigError("flink.cluster.prometheus_ports", "must be 'LOW-HIGH', one port or ''") from None
        return lo, hi

    @property
    def rest_address(self) -> str:
        return f"{self.rest_host}:{self.rest_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.rest_host}:{self.rest_port}"

    def __post_init__(self) -> None:
        for name in ("rest_port", "rpc_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise ConfigError(f"flink.cluster.{name}", "must be a port, 1..65535")
        if self.rest_port == self.rpc_port:
            raise ConfigError("flink.cluster.rpc_port", "must differ from rest_port")
        self._check_prometheus()
        for name in ("taskmanagers", "slots_per_taskmanager", "startup_timeout_s", "submit_timeout_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"flink.cluster.{name}", "must be >= 1")
        if self.jobmanager_memory_mb < 768 or self.taskmanager_memory_mb < 1024:
            raise ConfigError("flink.cluster.jobmanager_memory_mb",
                              "need jobmanager_memory_mb >= 768 and taskmanager_memory_mb >= 1024 "
                              "(below that Flink's own memory parts do not fit)")

    def _check_prometheus(self) -> None:
        ports = self.prometheus_range
        if ports is None:
            return
        lo, hi = ports
        key = "flink.cluster.prometheus_ports"
        if not 1 <= lo <= hi <= 65535:
            raise ConfigError(key, "must be ports 1..65535, LOW <= HIGH")
        if hi - lo + 1 < self.taskmanagers + 1:   # a daemon that finds no free port has no reporter
            raise ConfigError(key, f"needs a port for the jobmanager and each of the {self.taskmanagers} "
                                   "taskmanager(s)")
        if any(lo <= p <= hi for p in (self.rest_port, self.rpc_port)):
            raise ConfigError(key, "must not include rest_port or rpc_port")

@dataclass(frozen=True)
class Flink:
    parallelism: int
    checkpoint_interval_ms: int
    python_execution_mode: str
    bundle_size: int
    bundle_time_ms: int
    buffer_timeout_ms: int
    state_backend: str
    checkpoint_dir: str
    managed_memory_mb: int = 256
    # A task that keeps failing must stop, not restart from the same checkpoint forever.
    restart_strategy: str = "fixed-delay"   # fixed-delay | exponential-delay
    restart_attempts: int = 3               # restarts before the job is FAILED
    restart_delay_ms: int = 2000            # fixed delay; the first backoff when exponential
    restart_max_delay_ms: int = 30000       # exponential-delay: the longest backoff
    status_poll_ms: int = 1000              # how often the CLI asks the job for its status
    # Key groups: fixed, because a checkpoint restores only into the same number (docs/profile-job.md).
    max_parallelism: int = 128
    # A restore may drop the state of operators the graph no longer has (after an upgrade that
    # removed or renamed one): off, so a mistaken restore fails instead of losing state silently.
    allow_unclaimed_state: bool = False
    cluster: FlinkCluster = FlinkCluster()  # the standalone session cluster (docs/cluster.md)

    def __post_init__(self) -> None:
        if self.python_execution_mode not in ("thread", "process"):
            raise ConfigError("flink.python_execution_mode", "must be 'thread' or 'process'")
        if self.parallelism < 1:
            raise ConfigError("flink.parallelism", "must be >= 1")
        if self.restart_strategy not in ("fixed-delay", "exponential-delay"):
            raise ConfigError("flink.restart_strategy", "must be 'fixed-delay' or 'exponential-delay'")
        if self.restart_attempts < 0:
            raise ConfigError("flink.restart_attempts", "must be >= 0 (0: fail on the first error)")
        if self.restart_delay_ms < 0 or self.restart_max_delay_ms < self.restart_delay_ms:
            raise ConfigError("flink.restart_delay_ms", "need 0 <= restart_delay_ms <= restart_max_delay_ms")
        if self.status_poll_ms < 1:
            raise ConfigError("flink.status_poll_ms", "must be >= 1")
        if not self.parallelism <= self.max_parallelism <= 32768:   # 32768: Flink's own ceiling
            raise ConfigError("flink.max_parallelism", "need flink.parallelism <= max_parallelism <= 32768")

@dataclass(frozen=True)
class DeadLetters:
    """Dead letters on the topic (udfs/messages/dead_letter.py, docs/reliability.md)."""
    # Well under the broker's 1 MB message size: a letter that cannot be written stops the job.
    max_bytes: int = 65536

    def __post_init__(self) -> None:
        from udfs.messages.dead_letter import MIN_BYTES
        if self.max_bytes < MIN_BYTES:
            raise ConfigError("dead_letter.max_bytes", f"must be >= {MIN_BYTES}")

@dataclass(frozen=True)
class Logs:
    """Each job's own log files under ``<paths.work_dir>/<dir>/<job>/`` (docs/reliability.md)."""
    dir: str = "logs"
    level: str = "INFO"               # Python and JVM root level
    max_bytes: int = 10_485_760       # a file is rotated at this size ...
    backups: int = 5                  # ... keeping this many old ones
    status_lines: int = 20            # `adstream job status`: error lines shown per file

    def __post_init__(self) -> None:
        if self.level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("logs.level", "must be DEBUG, INFO, WARNING or ERROR")
        for name in ("max_bytes", "backups", "status_lines"):
            if getattr(self, name) < 1:
                raise ConfigError(f"logs.{name}", "must be >= 1")

@dataclass(frozen=True)
class Messages:
    """Bounds the jobs hold an input's event time to (``udfs.messages.bounds.TimeBounds``)."""
    min_ts_ms: int = 946_684_800_000       # 2000-01-01T00:00:00Z: an earlier ts is invalid
    max_future_skew_ms: int = 300_000      # a ts further ahead of the job's clock is 'future'

    def __post_init__(self) -> None:
        if self.min_ts_ms < 0:
            raise ConfigError("messages.min_ts_ms", "must be >= 0")
        if self.max_future_skew_ms < 0:
            raise ConfigError("messages.max_future_skew_ms", "must be >= 0")
