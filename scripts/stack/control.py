"""Local stack control: a real single-node Kafka broker (KRaft) and a Redis server.

Both run from installed packages and jars (no containers), on the loopback
addresses and ports in the config, with their state under ``paths.work_dir``.
``up`` is idempotent; ``down`` stops only the processes whose pid files it wrote,
and only after checking that the pid still belongs to that process.
"""
from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from udfs.config import ROOT, Config
from udfs.errors import StackError

JVM_DIR = ROOT / "scripts" / "jvm"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    alive: bool
    answers: bool


def _state_dir(cfg: Config, name: str) -> Path:
    d = cfg.path("work_dir") / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ours(pid: int | None, marker: str) -> bool:
    """Alive, and its command line carries our marker (guards against pid reuse)."""
    return bool(pid) and marker in _cmdline(pid)


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------- kafka

def _kafka_props(cfg: Config, log_dir: Path) -> str:
    k = cfg.kafka
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{k.host}:{k.controller_port}",
        f"listeners=PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
        f"advertised.listeners=PLAINTEXT://{k.host}:{k.port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={log_dir}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "log.retention.hours=24",
        "",
    ])


def _java(cfg: Config) -> list[str]:
    jars = cfg.jar_path("kafka_dir")
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise StackError(f"Kafka jars not found in {jars}: run `make setup` (scripts/setup.sh)")
    return ["java", f"-Xms{cfg.kafka.heap_mb}m", f"-Xmx{cfg.kafka.heap_mb}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={JVM_DIR / 'log4j2.properties'}",
            "-cp", f"{jars}/*"]


def kafka_up(cfg: Config, timeout_s: float = 90) -> str:
    d = _state_dir(cfg, "kafka")
    pidfile, props = d / "kafka.pid", d / "server.properties"
    if _ours(_read_pid(pidfile), str(props)) and _port_open(cfg.kafka.host, cfg.kafka.port):
        # A running broker may lack topics added to config since it started (or deleted
        # by hand): `stack up` is what the "topic does not exist" error tells users to run.
        made = create_topics(cfg)
        kept = apply_retention(cfg)
        return f"kafka already running on {cfg.kafka.bootstrap}" + (
            f"; created missing topics: {', '.join(made)}" if made else "") + (
            f"; retention set on {len(kept)} topics" if kept else "")
    if _port_open(cfg.kafka.host, cfg.kafka.port):
        raise StackError(f"port {cfg.kafka.port} is taken by a process we did not start; "
                         f"choose another with --set kafka.port=N")
    log_dir = d / "logs"
    props.write_text(_kafka_props(cfg, log_dir))
    if not (log_dir / "meta.properties").exists():
        # A leading '-' would be read as an option by StorageTool (1 id in 64): draw again.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt = subprocess.run(_java(cfg) + ["kafka.tools.StorageTool", "format", "-t", cluster_id,
                                           "-c", str(props), "--ignore-formatted"],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting KRaft storage failed:\n{fmt.stdout}\n{fmt.stderr}")
    log = d / "broker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(_java(cfg) + ["kafka.Kafka", str(props)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=d)
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            raise StackError(f"Kafka exited with code {proc.returncode}; log {log}:\n{_tail(log)}")
        if _broker_ready(cfg):
            create_topics(cfg)
            kept = apply_retention(cfg)
            return f"kafka up on {cfg.kafka.bootstrap} (pid {proc.pid})" + (
                f"; retention set on {len(kept)} topics" if kept else "")
        time.sleep(0.5)
    raise StackError(f"Kafka did not answer on {cfg.kafka.bootstrap} within {timeout_s:.0f}s; "
                     f"log {log}:\n{_tail(log)}")


def _broker_ready(cfg: Config) -> bool:
    if not _port_open(cfg.kafka.host, cfg.kafka.port):
        return False
    from kafka import KafkaAdminClient
    try:
        admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap, request_timeout_ms=3000)
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - any failure here just means "not yet"
        return False


def topic_configs(cfg: Config) -> dict[str, dict[str, str]]:
    """Topic name -> the configs the stack sets on it: compaction, and ``retention.ms`` from
    ``privacy.retention.topics_ms`` (topics carrying personal data, docs/privacy.md "Retention")."""
    import dataclasses
    keys = {f.name for f in dataclasses.fields(cfg.kafka.topics)}
    unknown = sorted(set(cfg.privacy.retention.topics_ms) - keys)
    if unknown:
        raise StackError(f"privacy.retention.topics_ms names no topic: {', '.join(unknown)} "
                         f"(the keys are kafka.topics': {', '.join(sorted(keys))})")
    out = {}
    for key in sorted(keys):
        t = getattr(cfg.kafka.topics, key)
        conf = {"cleanup.policy": "compact"} if t.compacted else {}
        if key in cfg.privacy.retention.topics_ms:
            conf["retention.ms"] = str(cfg.privacy.retention.topics_ms[key])
        out[t.name] = conf
    return out


def apply_retention(cfg: Config) -> list[str]:
    """Set each configured topic's ``retention.ms`` (a topic made before the setting, or after it
    changed, gets it too); returns the topics set. The whole managed set is sent, because the
    admin call replaces a topic's dynamic configs (compaction is kept so)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    wanted = {name: conf for name, conf in topic_configs(cfg).items() if "retention.ms" in conf}
    if not wanted:
        return []
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap, request_timeout_ms=10000)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=conf)
                             for name, conf in wanted.items()])
        return sorted(wanted)
    finally:
        admin.close()


def create_topics(cfg: Config) -> list[str]:
    """Create the topics named in config that do not exist yet; return those created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    confs = topic_configs(cfg)
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap, request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t.name, t.partitions, 1, topic_configs=confs[t.name])
               for t in cfg.kafka.topics.all() if t.name not in existing]
        if new:
            admin.create_topics(new)
        return [t.name for t in new]
    finally:
        admin.close()


def topic_counts(cfg: Config) -> dict[str, int]:
    """Messages held per configured topic (end − beginning offsets, summed over partitions)."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap, enable_auto_commit=False)
    try:
        out = {}
        for t in cfg.kafka.topics.all():
            parts = [TopicPartition(t.name, p) for p in sorted(consumer.partitions_for_topic(t.name) or [])]
            if not parts:
                raise StackError(f"topic {t.name} does not exist: run `adstream stack up`")
            end, begin = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
            out[t.name] = sum(end[p] - begin[p] for p in parts)
        return out
    finally:
        consumer.close()


# ------------------------------------------------------------------- redis

def redis_up(cfg: Config, timeout_s: float = 20) -> str:
    d = _state_dir(cfg, "redis")
    pidfile = d / "redis.pid"
    marker = f"{cfg.redis.host}:{cfg.redis.port}"
    if _ours(_read_pid(pidfile), marker) and _port_open(cfg.redis.host, cfg.redis.port):
        return f"redis already running on {marker}"
    if _port_open(cfg.redis.host, cfg.redis.port):
        raise StackError(f"port {cfg.redis.port} is taken by a process we did not start; "
                         f"choose another with --set redis.port=N")
    exe = _which("redis-server")
    log = d / "redis.log"
    # Persistence off: the online store is rebuilt from Kafka, never restored from disk.
    cmd = [exe, "--bind", cfg.redis.host, "--port", str(cfg.redis.port), "--save", "",
           "--appendonly", "no", "--daemonize", "no", "--dir", str(d), "--logfile", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    import redis
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            raise StackError(f"redis-server exited with code {proc.returncode}:\n{_tail(log)}")
        try:
            if redis.Redis(host=cfg.redis.host, port=cfg.redis.port, socket_timeout=1).ping():
                return f"redis up on {marker} (pid {proc.pid})"
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    raise StackError(f"redis did not answer on {marker} within {timeout_s:.0f}s:\n{_tail(log)}")


def _which(name: str) -> str:
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin"]:
        p = Path(d) / name
        if p.exists() and os.access(p, os.X_OK):
            return str(p)
    raise StackError(f"{name} not found: run `make setup` (installs Debian's redis-server)")


# ------------------------------------------------------------------- control

def _stop(pidfile: Path, marker: str, name: str, timeout_s: float = 30) -> str:
    pid = _read_pid(pidfile)
    if not _ours(pid, marker):
        pidfile.unlink(missing_ok=True)
        return f"{name}: not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _ours(pid, marker):
        _reap(pid)
        time.sleep(0.2)
    if _ours(pid, marker):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(pid)
    pidfile.unlink(missing_ok=True)
    return f"{name}: stopped (pid {pid})"


def _reap(pid: int) -> None:
    """Collect a zombie when the stopped process is our own child (tests)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pid_of(cfg: Config, service: str) -> int | None:
    """Pid of the ``kafka`` or ``redis`` process this stack started, if it is running."""
    d = _state_dir(cfg, service)
    pid = _read_pid(d / f"{service}.pid")
    return pid if _ours(pid, _marker(cfg, service)) else None


def _marker(cfg: Config, service: str) -> str:
    """What a service's command line holds when this stack started it."""
    if service == "kafka":
        return str(_state_dir(cfg, "kafka") / "server.properties")
    return f"{cfg.redis.host}:{cfg.redis.port}"


def up(cfg: Config) -> list[str]:
    return [redis_up(cfg), kafka_up(cfg)]


def down(cfg: Config) -> list[str]:
    return [down_service(cfg, "kafka"), down_service(cfg, "redis")]


def down_service(cfg: Config, service: str) -> str:
    """Stop one of the two (``kafka`` or ``redis``), by the pid this stack recorded."""
    return _stop(_state_dir(cfg, service) / f"{service}.pid", _marker(cfg, service), service)


def status(cfg: Config) -> list[ServiceStatus]:
    kd, rd = _state_dir(cfg, "kafka"), _state_dir(cfg, "redis")
    kpid, rpid = _read_pid(kd / "kafka.pid"), _read_pid(rd / "redis.pid")
    return [
        ServiceStatus("kafka", cfg.kafka.bootstrap, kpid,
                      _ours(kpid, str(kd / "server.properties")),
                      _port_open(cfg.kafka.host, cfg.kafka.port)),
        ServiceStatus("redis", cfg.redis.address, rpid,
                      _ours(rpid, f"{cfg.redis.host}:{cfg.redis.port}"),
                      _port_open(cfg.redis.host, cfg.redis.port)),
    ]
