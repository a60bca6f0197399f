"""The real local stack: Kafka (KRaft) and Redis from installed jars and packages, on loopback."""
import time

import pytest

from scripts.stack import control as st
from scripts.bench.common import free_ports
from udfs import config
from udfs.messages import topics
from udfs.messages import CatalogChange
from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.integration




def test_up_twice_is_harmless(stack):
    before = {s.name: s.pid for s in st.status(stack)}
    lines = st.up(stack)
    assert all("already running" in line for line in lines), lines
    after = st.status(stack)
    assert {s.name: s.pid for s in after} == before
    assert all(s.alive and s.answers for s in after)


def test_up_on_a_running_broker_creates_topics_missing_from_it(stack):
    import uuid
    name = f"added-later-{uuid.uuid4().hex[:6]}"
    cfg = config.load("test", overrides=[f"kafka.topics.dead_letter.name={name}"])
    with pytest.raises(Exception, match="does not exist"):
        st.topic_counts(cfg)
    lines = st.up(cfg)
    assert any("already running" in line and name in line for line in lines), lines
    assert st.topic_counts(cfg)[name] == 0
    assert "created" not in " ".join(st.up(cfg))        # and only once


def test_every_configured_topic_exists(stack):
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
    try:
        names = set(admin.list_topics())
    finally:
        admin.close()
    assert {t.name for t in stack.kafka.topics.all()} <= names


def wire(msg) -> tuple[bytes, bytes]:
    """(key, value) of one example: a catalogue change carries its own key."""
    return msg.encode() if isinstance(msg, CatalogChange) else (b"k", msg.encode())


def read(cls, record):
    return cls.parse(record.key, record.value) if cls is CatalogChange else cls.decode(record.value)


def test_round_trip_on_each_topic(stack):
    """Produce one valid message of each topic's format (udfs.messages.topics), consume it back, decode it equal."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    producer = KafkaProducer(bootstrap_servers=stack.kafka.bootstrap, linger_ms=0, acks=1)
    sent = {}
    for key, cls in topics.FORMATS.items():
        name = topics.name_of(stack, key)
        k, v = wire(EXAMPLES[cls])
        meta = producer.send(name, key=k, value=v).get(timeout=10)
        sent[name] = (cls, meta.offset)
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka.bootstrap, enable_auto_commit=False)
    try:
        for name, (cls, offset) in sent.items():
            tp = TopicPartition(name, 0)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            records = consumer.poll(timeout_ms=5000, max_records=1).get(tp, [])
            assert records, f"nothing read back from {name}"
            assert read(cls, records[0]) == EXAMPLES[cls]
    finally:
        consumer.close()


def test_redis_answers_with_persistence_off(stack):
    import redis
    r = redis.Redis(host=stack.redis.host, port=stack.redis.port)
    r.hset("adstream:test", mapping={"a": "1"})
    assert r.hgetall("adstream:test") == {b"a": b"1"}
    assert r.config_get("save")["save"] == "" and r.config_get("appendonly")["appendonly"] == "no"
    r.delete("adstream:test")


def test_down_stops_only_what_it_started(tmp_path):
    """A second stack on its own ports: down stops exactly its two pids; the session stack lives."""
    kport, cport, rport = free_ports(3)
    cfg = config.load("test", overrides=[
        f"kafka.port={kport}", f"kafka.controller_port={cport}",
        f"redis.port={rport}", f"paths.work_dir={tmp_path}"])
    st.up(cfg)
    pids = [s.pid for s in st.status(cfg)]
    assert len(pids) == 2 and all(p and _alive(p) for p in pids)
    st.down(cfg)
    time.sleep(0.3)
    for pid in pids:
        assert not _alive(pid), f"pid {pid} still running after down"
    assert not any(s.answers for s in st.status(cfg))
    assert not list(tmp_path.glob("*/*.pid"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except OSError:
        return False


@pytest.mark.flink
def test_pyflink_job_reads_and_writes_kafka_through_the_connector(stack, fresh_topic):
    """Proves apache-flink, the connector jar and the Python workers pair."""
    from kafka import KafkaConsumer, KafkaProducer
    from jobs.smoke import run
    src, dst = fresh_topic("smoke-in"), fresh_topic("smoke-out")
    producer = KafkaProducer(bootstrap_servers=stack.kafka.bootstrap, linger_ms=0)
    for i in range(20):
        producer.send(src, f"m{i}".encode())
    producer.flush()
    run(stack, src, dst, bounded=True)
    consumer = KafkaConsumer(dst, bootstrap_servers=stack.kafka.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    got = sorted(m.value.decode() for m in consumer)
    consumer.close()
    assert got == sorted(f"smoke:m{i}" for i in range(20))


def test_a_benchmark_stack_stopped_by_sigterm_stops_its_broker_and_redis():
    """`timeout` sends SIGTERM; the stack a benchmark started must not outlive it."""
    import json
    import os
    import signal
    import subprocess
    import sys
    code = ("import json, time\n"
            "from scripts.bench import common as benchlib\nfrom scripts.stack import control as stack\n"
            "with benchlib.own_stack() as cfg:\n"
            "    print(json.dumps([s.pid for s in stack.status(cfg)]), flush=True)\n"
            "    time.sleep(300)\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=config.ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(p.stdout.readline())
        assert len(pids) == 2 and all(pids), pids
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
    time.sleep(0.5)
    for pid in pids:
        alive = os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]
        assert not alive, f"pid {pid} outlived the benchmark"


@pytest.mark.slow
def test_the_scoring_benchmark_stopped_by_signals_leaves_no_process_behind(tmp_path):
    """The whole benchmark, not just own_stack: broker, Redis and the job's JVM all go.

    SIGTERM once the job is up (mid warm-up), then a Ctrl-C while it is stopping: the second
    signal must not cut the clean-up short. Checked by the pids the run wrote, by every
    process under it just before the signal, and by its ports."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from scripts.bench.scoring_cpu import tree
    cfg = config.load("test")
    hosts = {"kafka": cfg.kafka.host, "controller": cfg.kafka.host, "redis": cfg.redis.host}
    pidfile, log = tmp_path / "pids.json", open(tmp_path / "bench.log", "w")
    cmd = [sys.executable, "scripts/bench_scoring.py", "--duration", "2", "--sweep", "", "--no-search",
           "--no-variants", "--pid-file", str(pidfile)]
    p = subprocess.Popen(cmd, cwd=config.ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        pids = _wait_for_job(p, pidfile, timeout_s=420)
        time.sleep(3)                               # the job is answering: mid wait/warm-up
        started = tree(p.pid) - {p.pid}
        assert {pids["kafka"], pids["redis"], pids["flink_jvm"]} <= started, (pids, started)
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=180) == 128 + signal.SIGTERM, (tmp_path / "bench.log").read_text()[-3000:]
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    time.sleep(1.0)
    left = [pid for pid in started if os.path.exists(f"/proc/{pid}") and
            "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]]
    assert not left, f"outlived the benchmark: {[(q, _cmd(q)) for q in left]}"
    for name, port in pids["ports"].items():
        with socket.socket() as s:
            assert s.connect_ex((hosts[name], port)) != 0, f"{name} port {port} still answers"


def _wait_for_job(p, pidfile, timeout_s: float) -> dict:
    """The pid file once it names the job's JVM (the stack and world are up by then)."""
    import json
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert p.poll() is None, f"the benchmark ended early with {p.returncode}"
        try:
            pids = json.loads(pidfile.read_text())
        except (OSError, ValueError):
            pids = {}
        if pids.get("flink_jvm"):
            return pids
        time.sleep(0.5)
    raise AssertionError(f"no job JVM within {timeout_s:.0f}s")


def _cmd(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"
