"""Profile job benchmark: sustained throughput and freshness, beside the floor and the naive design.

1. throughput: a backlog of synthetic clickstream events is loaded into Kafka, the
   profile job starts, and we time from the first profile stored until every user's
   final profile is (events / seconds), watching the stored versions in Redis; then
   every final profile is read back through Feast (untimed) and counted.
2. freshness: events at a fixed rate (default 2,000/s); every 100 ms one of them
   is a probe for a dedicated user, and a poller reads that user through Feast
   until the probe's event time shows: produced → readable, p50/p99 over the probes
   sent after --warmup seconds (start-up is reported apart: when the last probe
   slower than 1 s was sent).
3. floor, same run: Kafka produce→consume at that rate and Redis HGETALL.
4. naive design, same backlog: per-event Python keyed state (ValueState per user,
   the profile folded per event) in process mode, bounded source; events/s from
   the job's wall time minus that of an almost empty run.
5. ``--target cluster``: then phases 1 and 2 again on a standalone session cluster the run
   starts itself (free ports, its own temp dir), once per ``--parallelism`` (default 1,2),
   the job submitted as ``adstream job profile --target cluster`` does and cancelled after
   each phase, on input topics of at least 2 partitions; each phase's CPU per process
   (JobManager, TaskManager, broker, Redis, this load generator) and
   ``scaling_efficiency_1_to_2`` = throughput(p2) / (2 × throughput(p1)).
Starts its own Kafka + Redis on free ports and stops them afterwards (and its cluster), by
pid, also on SIGTERM, SIGHUP or Ctrl-C.
"""
from __future__ import annotations

import threading
import time
import uuid

from scripts.bench import cluster, profile_cluster
from scripts.bench import common as benchlib
from udfs import config
from udfs.io import feast_store
from udfs.messages import ClickEvent, Consent

YES = Consent(personalisation=True, measurement=True)   # opt-in is the default: state it


def world_events(n_events: int, users: int, seed: int = 11) -> list[ClickEvent]:
    from scripts.synth import generate
    from scripts.synth.writer import messages
    base = config.load("test").generator
    world = generate(base, seed, users=users, events=n_events, requests=1)
    return list(messages(world, "events"))


def load_backlog(cfg, topic: str, values: list[bytes], keys: list[bytes]) -> float:
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=20, batch_size=1 << 20, acks=1)
    t = time.monotonic()
    for k, v in zip(keys, values):
        p.send(topic, key=k, value=v)
    p.flush()
    p.close()
    return time.monotonic() - t


def local_job(cfg):
    """The MiniCluster: the job in this process's PyFlink JVM; returns what stops it."""
    from jobs.profile import start
    client = start(cfg)
    return lambda: client.cancel().result()


def local_roots(cfg) -> dict:
    """Part → pid for the CPU split of a MiniCluster phase (the job is the gateway JVM's tree)."""
    from scripts.bench.cluster import stack_pids
    from scripts.bench.scoring_jobrun import gateway_pid
    return {"job": gateway_pid(), **stack_pids(cfg)}


def throughput(cfg, events: list[ClickEvent], timeout_s: float, launch=local_job, roots=local_roots) -> dict:
    """Backlog → every user's final profile stored: events / seconds, and each process's CPU
    over those seconds. ``launch(cfg)`` starts the job and returns what stops it; ``roots(cfg)``
    names the processes to measure (both default to the MiniCluster)."""
    topic = cfg.kafka.topics.clicks.name
    load_s = load_backlog(cfg, topic, [e.encode() for e in events], [e.user_id.encode() for e in events])
    last = {}
    for e in events:
        last[e.user_id] = max(last.get(e.user_id, 0), e.ts)
    stop = launch(cfg)
    try:
        t_first, t_done, cpu = _watch_landing(cfg, events, last, timeout_s, roots(cfg))
    finally:
        stop()
    secs = (t_first and t_done and t_done - t_first) or float("nan")
    # Then, untimed: every final profile reads back through Feast itself.
    users = sorted(last)
    rows = feast_store.ProfileReader(cfg).read_all(users)
    through_feast = sum(1 for u, r in zip(users, rows) if r["last_event_ts"] == last[u])
    return {"events": len(events), "users": len(users), "load_s": load_s, "seconds": secs,
            "verified_through_feast": through_feast, "cpu": cpu,
            "throughput_eps": len(events) / secs if secs and secs > 0 else 0.0}


def _watch_landing(cfg, events, last: dict, timeout_s: float, roots: dict):
    """(first stored, all stored, CPU split between the two) as the job works off the backlog."""
    # Landing is watched on stored versions (HGET) of a few users only: those owning the first
    # and the last 200 events of the backlog. One partition is processed in order, so when the
    # last ones have landed the rest have too; that is then checked for every user (and if
    # not, every user is polled until it is: with several partitions, as on the cluster, it
    # is). Re-reading all 5,000 users each poll, through Feast or even by HGET, cost the job a
    # third of a core.
    from scripts.bench.scoring_cpu import PhaseCpu
    probe = feast_store.RedisProfileWriter(cfg, cache_users=len(last) + 1)

    def landed(user: str, version_us: int | None) -> bool:
        return version_us is not None and version_us // 1000 == last[user]

    first = sorted({e.user_id for e in events[:200]})
    watch = sorted({e.user_id for e in events[-200:]})
    meter, t_first, end = PhaseCpu(roots), None, time.monotonic() + timeout_s
    while time.monotonic() < end:
        if t_first is None:
            if any(probe.stored_versions_us(first)):
                t_first = meter.__enter__().t0
        else:
            versions = probe.stored_versions_us(watch)
            now = time.monotonic()
            watch = [u for u, v in zip(watch, versions) if not landed(u, v)]
            if not watch:
                everyone = sorted(last)
                watch = [u for u, v in zip(everyone, probe.stored_versions_us(everyone))
                         if not landed(u, v)]
                if not watch:
                    meter.__exit__(None, None, None)
                    return t_first, now, _per_event(meter.result(len(events)))
        time.sleep(0.05)
    return t_first, None, {}


def _per_event(cpu: dict) -> dict:
    """PhaseCpu's figures, said per event (the profile job answers no requests)."""
    out = dict(cpu)
    out["job_cpu_ms_per_event"] = out.pop("job_cpu_ms_per_request")
    out["events"] = out.pop("requests_answered")
    return out


class _Probes:
    """Probes sent and not yet seen, and the latencies of those seen; shared with the poller thread."""

    def __init__(self):
        self.series: list[tuple[float, float]] = []   # (sent at, s after start; latency ms), warm-up included
        self.pending: dict[int, float] = {}           # event ts -> monotonic time sent
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def sent(self, ts: int) -> None:
        with self.lock:
            self.pending[ts] = time.monotonic()

    def poll(self, reader, probe_user: str, start_t: float) -> None:
        """Until stopped: read the probe user through Feast, and time every probe its profile now shows."""
        while not self.stop.is_set():
            with self.lock:
                waiting = dict(self.pending)
            if waiting:
                ts = reader.read_all([probe_user])[0]["last_event_ts"] or 0
                now = time.monotonic()
                with self.lock:
                    for t in [t for t in self.pending if t <= ts]:
                        sent_at = self.pending.pop(t)
                        self.series.append((sent_at - start_t, (now - sent_at) * 1000))
            # 20 ms between Feast reads: a tighter loop would steal the CPU it measures.
            time.sleep(0.02)


def _wait_until_answering(p, topic: str, reader, probe_user: str) -> None:
    """Send one event for the probe user and wait (up to 120 s) until Feast shows it: the job is up."""
    warm = ClickEvent(event_id=uuid.uuid4().hex, user_id=probe_user, ts=1, type="search", query="warm",
                      consent=YES)
    p.send(topic, key=probe_user.encode(), value=warm.encode()).get(timeout=10)
    end = time.monotonic() + 120
    while time.monotonic() < end and not reader.read_all([probe_user])[0]["last_event_ts"]:
        time.sleep(0.2)


def _send_traffic(p, topic: str, probe_user: str, probes: _Probes, rate: float, seconds: float,
                  start_t: float, base_ts: int) -> int:
    """Send events at ``rate`` for ``seconds`` from ``start_t``; returns how many were sent.

    Every 100 ms the event is a probe for ``probe_user`` (recorded in ``probes``), the
    others are views by 5,000 background users. Event times count up from ``base_ts``,
    one ms per event, so every probe has its own ts.
    """
    sent, next_probe = 0, 0.0
    while (now := time.monotonic()) - start_t < seconds:
        due = start_t + sent / rate
        if now < due:
            time.sleep(due - now)
        ts = base_ts + sent
        if now - start_t >= next_probe:
            ev = ClickEvent(event_id=uuid.uuid4().hex, user_id=probe_user, ts=ts, type="search", query="p",
                            consent=YES)
            probes.sent(ts)
            next_probe += 0.1
        else:
            ev = ClickEvent(event_id=uuid.uuid4().hex, user_id=f"bg-{sent % 5000}", ts=ts, type="view",
                            item_id=f"i{sent % 997}", category_id=f"c{sent % 40}", price=10.0, consent=YES)
        p.send(topic, key=ev.user_id.encode(), value=ev.encode())
        sent += 1
    return sent


def _freshness_figures(probes: _Probes, sent: int, warmup_s: float, duration: float) -> dict:
    """Achieved rate, and latency percentiles over the probes sent after the warm-up."""
    achieved = sent / (warmup_s + duration)
    series, pending = probes.series, probes.pending
    series.sort()
    lat = [ms for at, ms in series if at >= warmup_s]
    slow = [at for at, ms in series if ms > 1000]
    return {"rate_eps": achieved, "sent": sent, "warmup_s": warmup_s, "series": series,
            "catchup_s": (max(slow) if slow else 0.0), "probes": len(lat) + len(pending),
            "lost_probes": len(pending), **{f"fresh_{k}": v for k, v in benchlib.pct(lat).items()}}


def freshness(cfg, rate: float, duration: float, warmup_s: float = 20.0, launch=local_job,
              roots=local_roots) -> dict:
    """Produced -> readable through Feast, for probes sent among background events at ``rate``;
    each process's CPU over the measured part (after the warm-up). ``launch``, ``roots``: as
    for ``throughput``."""
    from kafka import KafkaProducer
    from scripts.bench.scoring_cpu import PhaseCpu
    topic = cfg.kafka.topics.clicks.name
    stop = launch(cfg)
    reader = feast_store.ProfileReader(cfg)
    probe_user = f"probe-{uuid.uuid4().hex[:6]}"
    probes = _Probes()
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0, acks=1)
    _wait_until_answering(p, topic, reader, probe_user)
    # Figures count the probes sent after warmup_s of traffic: the fresh JVM's JIT compilers
    # take most of a core for their first seconds, and the first sight of every user costs a
    # state miss and a full write. That start-up is reported apart (catch-up time).
    start_t = time.monotonic()
    base_ts = int(time.time() * 1000)
    poller = threading.Thread(target=probes.poll, args=(reader, probe_user, start_t), daemon=True)
    meter = PhaseCpu(roots(cfg))
    # the CPU split starts with the measured probes (a timer: the send loop keeps its schedule)
    timer = threading.Timer(warmup_s, meter.__enter__)
    poller.start()
    timer.start()
    try:
        sent = _send_traffic(p, topic, probe_user, probes, rate, warmup_s + duration, start_t, base_ts)
        timer.join()
        meter.__exit__(None, None, None)
        p.flush()
        time.sleep(3)
    finally:
        timer.cancel()
        probes.stop.set()
        poller.join()
        stop()
        p.close()
    return {**_freshness_figures(probes, sent, warmup_s, duration), "cpu": meter.result(0)}


def naive_throughput(cfg, events: list[ClickEvent]) -> dict:
    """Per-event keyed Python state in process mode, bounded Kafka source, output discarded."""
    topic = f"naive-{uuid.uuid4().hex[:6]}"
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1), NewTopic(topic + "-empty", 1, 1)])
    admin.close()
    load_backlog(cfg, topic, [e.encode() for e in events], [e.user_id.encode() for e in events])
    load_backlog(cfg, topic + "-empty", [events[0].encode()], [b"k"])
    pcfg = config.load("test", overrides=[f"kafka.port={cfg.kafka.port}", f"redis.port={cfg.redis.port}",
                                          f"paths.work_dir={cfg.paths.work_dir}",
                                          f"flink.checkpoint_dir={cfg.flink.checkpoint_dir}",
                                          "flink.python_execution_mode=process"])
    t_empty = _naive_run(pcfg, topic + "-empty")
    t_full = _naive_run(pcfg, topic)
    secs = t_full - t_empty
    return {"naive_seconds": secs, "naive_throughput_eps": len(events) / secs if secs > 0 else 0.0}


def _naive_run(cfg, topic: str) -> float:
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream import KeyedProcessFunction
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource
    from pyflink.datastream.state import ValueStateDescriptor
    from jobs.common import table_env
    from udfs.core import profile as P

    params = P.ProfileParams.from_config(cfg.profile.windows)

    class PerEvent(KeyedProcessFunction):
        def open(self, ctx):
            self.state = ctx.get_state(ValueStateDescriptor("p", Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, ev, ctx):
            st = self.state.value() or P.ProfileState()
            P.apply(st, P.EventView(ev.ts, ev.type, ev.category_id, ev.brand_id, ev.price), params)
            self.state.update(st)
            yield len(st.ts)

    env, _ = table_env(cfg, "bench-naive")
    src = (KafkaSource.builder().set_bootstrap_servers(cfg.kafka.bootstrap).set_topics(topic)
           .set_group_id("bench-naive").set_starting_offsets(KafkaOffsetsInitializer.earliest())
           .set_bounded(KafkaOffsetsInitializer.latest())
           .set_value_only_deserializer(SimpleStringSchema()).build())
    (env.from_source(src, WatermarkStrategy.no_watermarks(), "naive-src")
     .map(ClickEvent.decode, output_type=Types.PICKLED_BYTE_ARRAY())
     .key_by(lambda e: e.user_id, key_type=Types.STRING())
     .process(PerEvent(), output_type=Types.INT())
     .filter(lambda x: False))
    t = time.monotonic()
    env.execute("bench-naive")
    return time.monotonic() - t


def parse_args(argv=None):
    p = benchlib.parser(__doc__.splitlines()[0], duration=20)
    p.add_argument("--events", type=int, default=200_000, help="backlog size for the throughput phase")
    p.add_argument("--users", type=int, default=5000, help="users in the synthetic world")
    p.add_argument("--rate", type=float, default=2000, help="events/s in the freshness phase")
    p.add_argument("--warmup", type=float, default=20.0,
                   help="seconds of traffic before the freshness probes start (JIT warm-up)")
    p.add_argument("--mode", choices=["thread", "process"], default=None, help="python execution mode")
    p.add_argument("--slice-ms", type=int, default=None, help="profile.batch_interval_ms")
    p.add_argument("--skip-naive", action="store_true", help="do not run the naive design")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="config override for the job, e.g. --set flink.parallelism=2 (repeatable)")
    cluster.add_target_args(p)
    a = p.parse_args(argv)
    cluster.check_target_args(p, a)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    sets = list(a.overrides)
    if a.mode:
        sets.append(f"flink.python_execution_mode={a.mode}")
    if a.slice_ms:
        sets.append(f"profile.batch_interval_ms={a.slice_ms}")
    print(f"generating {a.events} events for {a.users} users …", flush=True)
    events = world_events(a.events, a.users)
    cl = None
    with benchlib.own_stack(a.env, sets) as cfg:
        feast_store.apply(cfg)
        from scripts.bench_stack import kafka_latency, redis_latency
        kafka_lat, _ = kafka_latency(cfg, a.rate, 512, min(a.duration, 10), warmup=2)
        redis_lat = redis_latency(cfg, min(a.duration, 5))
        tp = throughput(cfg, events, timeout_s=600)
        fr = freshness(cluster.own_topic(cfg, "clicks", f"fresh-{uuid.uuid4().hex[:6]}", 1),
                       a.rate, a.duration, a.warmup)
        naive = {} if a.skip_naive else naive_throughput(cfg, events[: min(len(events), 50_000)])
        if a.target == "cluster":
            _stop_local_jvm()
            cl = profile_cluster.run(a, cfg, sets, events, throughput, freshness, print)
    k, r = benchlib.pct(kafka_lat), benchlib.pct(redis_lat)
    figures = {
        **profile_cluster.phase_figures(tp, fr),
        "naive_throughput_eps": naive.get("naive_throughput_eps"),
        "floor_kafka_p50_ms": k["p50"], "floor_kafka_p99_ms": k["p99"],
        "floor_redis_p50_ms": r["p50"], "floor_redis_p99_ms": r["p99"],
        "execution_mode": cfg.flink.python_execution_mode, "slice_ms": cfg.profile.batch_interval_ms,
        "duration_s": a.duration, "target": a.target,
    }
    rows = _rows(a, cfg, tp, fr, naive, k, r)
    if cl is not None:
        local = {**profile_cluster.phase_figures(tp, fr), "parallelism": cfg.flink.parallelism}
        figures.update(profile_cluster.figures(local, cl))
        rows += profile_cluster.rows(figures)
    benchlib.report("bench_profile: clickstream → Feast", rows, figures, a.out)
    return 0


def _rows(a, cfg, tp: dict, fr: dict, naive: dict, k: dict, r: dict) -> list[tuple[str, str]]:
    naive_txt = (f"{naive['naive_throughput_eps']:.0f} events/s (50k events)" if naive else "skipped")
    return [
        ("throughput (features in Redis)", f"{tp['throughput_eps']:.0f} events/s "
                                           f"({tp['events']} events, {tp['users']} users, {tp['seconds']:.1f} s; "
                                           f"{tp['verified_through_feast']} final profiles read back via Feast)"),
        ("freshness produce→Feast", f"p50 {fr['fresh_p50']:.0f} ms  p99 {fr['fresh_p99']:.0f} ms at "
                                    f"{fr['rate_eps']:.0f} events/s ({fr['probes']} probes after {fr['warmup_s']:.0f} s warm-up, "
                                    f"{fr['lost_probes']} unseen; last probe over 1 s sent at "
                                    f"{fr['catchup_s']:.1f} s after start)"),
        ("naive per-event keyed state", naive_txt),
        ("floor: kafka produce→consume", f"p50 {k['p50']:.2f} ms  p99 {k['p99']:.2f} ms at {a.rate:.0f}/s"),
        ("floor: redis HGETALL", f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms"),
        ("settings", f"mode {cfg.flink.python_execution_mode}, slice {cfg.profile.batch_interval_ms} ms, "
                     f"parallelism {cfg.flink.parallelism}"),
    ]


def _stop_local_jvm() -> None:
    """The MiniCluster's phases are done: its JVM goes before the cluster's phases, so an idle
    JVM holds neither memory nor a thread's CPU on the 2 cores they share."""
    from scripts.bench.scoring_jobrun import gateway_pid, stop_jvm
    stop_jvm(gateway_pid(), print)


if __name__ == "__main__":
    raise SystemExit(main())
