"""Scoring job end to end: request produced → ranked response consumed, 100 candidates a request.

On its own stack (free ports, temp state): 5,000 users with profiles in Feast, a
catalogue of 100 always-eligible creatives (caps set high so they are evaluated but
never bind), and a model of production size (trees x depth at ``model.max_depth_sum``,
fit on random rows with a click signal). Every job is warmed up unmeasured at 300/s, in
5 s steps, until the Flink JVM's JIT compiler threads use under 0.05 core (at least 20 s,
at most 120 s; variants at least 10 s): a fresh job's JIT takes a third of a core for its
first ~30 s, and a job serves for days. The warm-up each job needed is in the JSON
(``warmup``). Every measured phase then waits until the job has answered what an earlier
phase queued, sends for a 2 s warm-up plus ``--duration`` seconds, and waits at most 30 s
for the answers (variants 15 s). Percentiles are reported for the whole phase and per 10 s
window by send time, so a queue that builds shows; a PNG of the windows lands beside --out.

* floors, same run: Kafka produce→consume alone (one hop; the job path has two), one
  profile read alone (Feast's call, and the job's direct read), one ONNX call on 100
  rows, the job's topology with a do-nothing Python step (``scripts/bench/scoring_echo.py``), and
  the same without the keying (one operator: PyFlink's minimum);
* CPU per phase, by pid: the job's JVM (Python runs inside it in thread mode) and its
  children, the load generator (this process), the broker, Redis, and what the rest of the
  machine used; the job's CPU ms per answered request;
* the job with the scoring settings (``scoring_job``: thread mode, bundle 1 / 1 ms,
  buffer timeout 0) at each ``--sweep`` rate, then a rate search in ``--search-step``
  steps from ``--rate`` for the highest rate whose p99 stays within 20 ms with every
  request answered (up while it passes, down if ``--rate`` fails);
* the effect of buffer timeout and execution mode / bundle size, at the highest rate with
  p99 ≤ 50 ms (``--variant-rate`` overrides);
* ``--target cluster``: then the sweep (and search) again with the job on a standalone session
  cluster this run starts (free ports, its own temp dir), once per ``--parallelism`` (default
  1,2), submitted as ``adstream job scoring --target cluster`` does, on request and response
  topics of at least 2 partitions; CPU per process (JobManager, TaskManager, broker, Redis, load
  generator) per phase and ``scaling_efficiency_1_to_2`` (``scripts/bench/scoring_cluster.py``).

The load generator's Kafka clients are confluent-kafka when installed, else kafka-python
(``loadgen_client`` in the JSON). SIGTERM, SIGHUP and Ctrl-C stop the job's JVM, the
broker, Redis and the cluster's daemons this run started, by pid (``--pid-file`` lists them).

    .venv/bin/python scripts/bench_scoring.py --duration 60 --rate 500 --out .work/bench/scoring_500.json
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import cluster, scoring_cluster  # noqa: E402
from scripts.bench import common as benchlib  # noqa: E402
from scripts.bench import scoring_clients as clients  # noqa: E402
from scripts.bench import scoring_report as R  # noqa: E402
from scripts.bench import scoring_stats as S  # noqa: E402
from scripts.bench import scoring_world as W  # noqa: E402
from scripts.bench.scoring_jobrun import JobRun, stop_jvm  # noqa: E402

VARIANTS = (("thread, buffer timeout 5 ms", {"buffer_timeout_ms": 5}),
            ("thread, buffer timeout 100 ms (Flink default)", {"buffer_timeout_ms": 100}),
            ("process, bundle 1 / 1 ms, buffer 0 ms", {"python_execution_mode": "process"}),
            ("process, bundle 1000 / 50 ms, buffer 10 ms (profile job's)",
             {"python_execution_mode": "process", "bundle_size": 1000, "bundle_time_ms": 50,
              "buffer_timeout_ms": 10}))
TARGET_P99_MS, PASS_P99_MS = 20.0, 50.0


class PidFile:
    """What this run started, as JSON at ``path`` (rewritten whole on each change), so a test
    or an operator can check that nothing outlived it."""

    def __init__(self, path: str | None):
        self.path, self.pids = path, {"bench": os.getpid()}
        self._write()

    def set(self, **kw) -> None:
        self.pids.update(kw)
        self._write()

    def get(self, name: str):
        return self.pids.get(name)

    def _write(self) -> None:
        if self.path:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{self.path}.tmp"
            Path(tmp).write_text(json.dumps(self.pids))
            os.replace(tmp, self.path)     # a reader never sees half a file


def parse_args(argv=None):
    p = benchlib.parser(__doc__.splitlines()[0], duration=60)
    p.epilog = ("--out also gets a PNG beside it (same stem, .png): p50/p99 per 10 s window of every "
                "phase. Each phase measures --duration seconds after its own 2 s warm-up; the JSON "
                "keys are listed in docs/benchmarks.md. SIGTERM, SIGHUP or Ctrl-C stop the broker, "
                "Redis and job JVM this run started.")
    p.add_argument("--rate", type=float, default=500,
                   help="headline request rate (requests/s); also where the rate search starts")
    p.add_argument("--sweep", default="200,500,1000",
                   help="comma-separated rates measured with the scoring settings (--rate is always added)")
    p.add_argument("--no-search", action="store_true",
                   help="skip the rate search; the max rates then come from the sweep alone")
    p.add_argument("--search-step", type=float, default=50, help="rate search step (requests/s)")
    p.add_argument("--search-min", type=float, default=50, help="lowest rate the search tries")
    p.add_argument("--search-max", type=float, default=2000, help="highest rate the search tries")
    p.add_argument("--no-variants", action="store_true", help="skip execution mode / bundle / buffer runs")
    p.add_argument("--variant-rate", type=float,
                   help="rate of the variant runs; unset: the highest rate with p99 <= 50 ms")
    p.add_argument("--model", help="exported model folder to serve; unset: a production-size model made for the run")
    p.add_argument("--loadgen-client", choices=("auto", clients.CONFLUENT, clients.KAFKA_PYTHON),
                   default="auto", help="Kafka client of the load generator (auto: confluent-kafka if installed)")
    p.add_argument("--experiment", action="store_true",
                   help="run with an A/B experiment over every request (two variants, 50/50; the second "
                        "explores 10 %% of its requests with Thompson sampling and has its own reserve)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the stack and every job of the run (repeatable), e.g. "
                        "--set scoring.exploration.rate=0.1 --set scoring_job.experiments_file=FILE")
    p.add_argument("--pid-file", help="keep a JSON of the pids this run started here (bench, kafka, redis, "
                                      "flink_jvm, flink_cluster) and its ports")
    cluster.add_target_args(p)
    a = p.parse_args(argv)
    cluster.check_target_args(p, a)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    clients.select(a.loadgen_client)
    log(f"load generator client: {clients.name()} {clients.version()}")
    tmp = Path(tempfile.mkdtemp(prefix="adstream-bench-scoring-"))
    probe = {"loadavg_start": S.loadavg(Path("/proc/loadavg").read_text()), "cpu_probe_ms": benchlib.cpu_probe()}
    try:
        res = run(a, tmp, PidFile(a.pid_file), log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    probe.update(loadavg_end=S.loadavg(Path("/proc/loadavg").read_text()), cpu_probe_ms_end=benchlib.cpu_probe())
    fig, rows = R.build(a, res, probe, TARGET_P99_MS)
    fig["target"] = a.target
    if "cluster" in res:
        fig.update(scoring_cluster.figures(a, res, res["cluster"]))
        rows += scoring_cluster.rows(fig)
    benchlib.report("bench_scoring: request → ranked response, end to end", rows, S.finite(fig), a.out)
    return 0


def run(a, tmp: Path, pids: PidFile, log) -> dict:
    """Stack, world, floors, then the three kinds of job run; the JVM is stopped however it ends."""
    from scripts.stack import control as stack
    extra = [f"paths.model_registry={tmp}/models", f"scoring_job.catalog_file={tmp}/catalog.json",
             "scoring.campaign_caps=[{window_s: 3600, limit: 100000}]",
             "scoring.creative_caps=[{window_s: 3600, limit: 100000}]",
             *([f"scoring_job.experiments_file={W.write_experiment(tmp)}"] if a.experiment else []), *a.sets]
    with benchlib.own_stack(a.env, extra) as cfg:
        pids.set(kafka=stack.pid_of(cfg, "kafka"), redis=stack.pid_of(cfg, "redis"),
                 ports={"kafka": cfg.kafka.port, "controller": cfg.kafka.controller_port, "redis": cfg.redis.port})
        base = [f"kafka.port={cfg.kafka.port}", f"kafka.controller_port={cfg.kafka.controller_port}",
                f"redis.port={cfg.redis.port}", f"paths.work_dir={cfg.paths.work_dir}",
                f"flink.checkpoint_dir={cfg.flink.checkpoint_dir}", *extra]
        try:
            log("setting up users, catalogue and model ...")
            world = W.build(cfg, tmp, model=a.model)
            log("floors ...")
            res = {"world": world, "floors": W.floors(cfg, world, a.rate, a.duration), "phases": {},
                   "cpu": {}, "warm": {}}
            mk = lambda name, **kw: JobRun(base, a.env, name, world, pids, **kw)  # noqa: E731
            floor_jobs(a, mk, res, log)
            scoring_runs(a, mk, res, log)
            res["variants"] = variants(a, mk, res, log)
            if a.target == "cluster":
                # the MiniCluster's phases are done: its JVM goes before the cluster's phases start
                stop_jvm(pids.get("flink_jvm"), log)
                res["cluster"] = scoring_cluster.run(a, base, world, pids, scoring_runs, log)
        finally:
            stop_jvm(pids.get("flink_jvm"), log)
    return res


def floor_jobs(a, mk, res: dict, log) -> None:
    """The no-op topology with and without the keying: what Flink alone costs at --rate."""
    for name, lean, key in (("echo", False, "flink"), ("lean", True, "flink_lean")):
        job = mk(name, echo=True, lean=lean)
        try:
            ph, s, cores = job.measure(a.rate, name, a.duration)
            res["floors"][key] = benchlib.pct(ph.latencies_ms)
            res["phases"][name] = s
            if name == "echo":
                res["cpu"]["echo"] = cores
            log(f"  {name} (no-op topology): {R.fmt_rate(s)}")
        finally:
            res["warm"][name] = job.warmup
            job.stop()


def scoring_runs(a, mk, res: dict, log) -> None:
    """The sweep, then the rate search, on one job with the scoring settings."""
    sweep = sorted({float(r) for r in a.sweep.split(",") if r.strip()} | {a.rate})
    rates, tried, verdicts = {}, [], []
    job = mk("main")
    try:
        for r in sweep:
            log(f"job at {r:.0f}/s ...")
            ph, rates[r], res["cpu"][f"job@{r:.0f}"] = job.measure(r, f"r{r:.0f}", a.duration)
            res["phases"][f"r{r:.0f}"] = rates[r]
            if r == a.rate:
                res["stages_ms"] = R.stages(ph)
            log(f"  {R.fmt_rate(rates[r])}")
        if not a.no_search:
            tried, verdicts = rate_search(job, rates, a, log)
            res["phases"].update({f"s{s['rate_rps']:.0f}": s for s in tried})
        res["startup"], res["warm"]["job"] = job.startup_s, job.warmup
    finally:
        job.stop()
    every = [*rates.values(), *tried]
    res.update(rates=rates, search=tried, verdicts=verdicts,
               max_rate_p99_20ms=S.max_passing([(s["rate_rps"], S.passes(s, TARGET_P99_MS)) for s in every]),
               max_rate_p99_50ms=S.max_passing([(s["rate_rps"], S.passes(s, PASS_P99_MS)) for s in every]))


def rate_search(job: JobRun, known: dict[float, dict], a, log) -> tuple[list[dict], list]:
    """Steps of --search-step from --rate until the p99 ≤ 20 ms verdict flips; a full phase each.

    Rates the sweep already measured are not measured again. Returns the phases it measured
    and every (rate, passed) verdict in the order taken."""
    tried, out = [], []
    while (r := S.next_rate(tried, a.rate, a.search_step, a.search_min, a.search_max)) is not None:
        s = known.get(r)
        if s is None:
            log(f"search at {r:.0f}/s ...")
            _, s, _ = job.measure(r, f"s{r:.0f}", a.duration)
            out.append(s)
            log(f"  {R.fmt_rate(s)}")
        tried.append((r, S.passes(s, TARGET_P99_MS)))
    return out, tried


def variants(a, mk, res: dict, log) -> list[dict]:
    """Buffer timeout and execution mode at one rate the scoring settings keep up with."""
    vrate = a.variant_rate or res["max_rate_p99_50ms"] or min(res["rates"])
    res["variant_rate"] = vrate
    base_v = next((s for s in [*res["rates"].values(), *res["search"]] if s["rate_rps"] == vrate), None)
    out = [{"name": "thread, bundle 1 / 1 ms, buffer 0 ms (scoring_job)", **base_v}] if base_v else []
    for i, (name, knobs) in enumerate(() if a.no_variants else VARIANTS):
        log(f"variant at {vrate:.0f}/s: {name} ...")
        try:
            v = mk(f"v{i}", warm_s=JobRun.WARMUP_MIN_S / 2, **knobs)
        except Exception as e:   # one variant that cannot start must not cost the run its figures
            log(f"  variant did not start: {type(e).__name__}: {str(e)[:200]}")
            out.append({"name": name, "error": f"{type(e).__name__}: {str(e)[:200]}"})
            continue
        try:
            _, s, _ = v.measure(vrate, f"v{i}", a.duration, drain_s=15.0)
            out.append({"name": name, **s, "warmup": v.warmup})
            res["phases"][f"v{i}"] = s
            log(f"  {R.fmt_rate(s)}")
        finally:
            v.stop()
    return out


if __name__ == "__main__":
    raise SystemExit(main())
