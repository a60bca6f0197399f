"""The profile job's SQL alone: JVM CPU per record of each part, no Python step, no Kafka.

A file of synthetic clickstream records (the profile benchmark's world) is read by Flink's
filesystem source and pushed through one variant of the job's SQL into a blackhole sink; the
figure is the PyFlink JVM's CPU time over the run divided by the records. Each variant runs in a
fresh process (a fresh JVM: no variant inherits another's JIT work), ``--repeat`` times,
interleaved, so a host that slows down mid-run moves every variant alike. Variants:

- ``floor``: the value passed through (source, JIT, GC, sink)
- ``one_parse``: + one ``JSON_VALUE`` (the user id)
- ``event_time``: the job's source columns (``jobs.profile.source_columns``: ``rt``, ``ahead``)
  and watermark, the value passed through
- ``job``: the job's whole SQL (``jobs.profile.slices``): late flag, shard, 200 ms slices
- ``listagg``: as ``job`` but the slices joined by ``LISTAGG`` with a control-character separator
- ``no_event_time``: slices over the user id only (no ``rt``, no watermark)

    .venv/bin/python scripts/bench_profile_sql.py --events 300000 --repeat 2 --out .work/bench/bench_profile_sql.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import common as benchlib  # noqa: E402

VARIANTS = ("floor", "one_parse", "event_time", "job", "listagg", "no_event_time")


def _flagged(tenv, cfg, src: str, event_time: bool, agg: str):
    late = (f"CASE WHEN ahead THEN 'F' WHEN rt < CURRENT_WATERMARK(rt) - INTERVAL "
            f"'{cfg.profile.allowed_lateness_ms / 1000:.3f}' SECOND THEN 'L' ELSE '-' END") if event_time else "'-'"
    tenv.create_temporary_view("fl", tenv.sql_query(
        f"SELECT ABS(MOD(HASH_CODE(uid), {cfg.profile.shards})) AS shard, CONCAT({late}, `value`) AS line, pt FROM {src}"))
    return tenv.sql_query(
        f"SELECT CAST(shard AS STRING) AS a, {agg} AS b FROM TABLE(TUMBLE(TABLE fl, DESCRIPTOR(pt), "
        f"INTERVAL '{cfg.profile.batch_interval_ms / 1000:.3f}' SECOND)) GROUP BY shard, window_start, window_end")


def _table(variant: str, tenv, cfg, path: str):
    """The variant's Table(a STRING, b STRING) over the file ``path``."""
    import jobs.profile as P
    opts = f"'connector'='filesystem','path'='{path}','format'='raw'"
    plain = f"CREATE TABLE src (`value` STRING, uid AS COALESCE(JSON_VALUE(`value`, '$.user_id'), ''), pt AS PROCTIME()) WITH ({opts})"
    if variant in ("floor", "one_parse", "no_event_time"):
        tenv.execute_sql(plain)
    else:
        tenv.execute_sql(P.source_ddl(cfg, "src", opts))
    if variant == "floor":
        return tenv.sql_query("SELECT `value` AS a, `value` AS b FROM src")
    if variant == "one_parse":
        return tenv.sql_query("SELECT uid AS a, `value` AS b FROM src")
    if variant == "event_time":
        return tenv.sql_query("SELECT `value` AS a, CAST(rt AS STRING) AS b FROM src")
    if variant == "job":
        t = P.slices(tenv, cfg, "src")
        return tenv.sql_query(f"SELECT CAST(shard AS STRING) AS a, lines AS b FROM {t}")
    agg = "LISTAGG(line, U&'\\001E')" if variant == "listagg" else "JSON_ARRAYAGG(line)"
    return _flagged(tenv, cfg, "src", variant == "listagg", agg)


def _jvm_cpu() -> float:
    pid = benchlib._children_by_marker().get("flink JVM")
    return benchlib._proc_stat(f"/proc/{pid}/stat")[1] if pid else 0.0


def one(variant: str, path: str, records: int, env_name: str = "test") -> dict:
    """Run one variant in this process; its JVM CPU seconds and wall seconds."""
    from udfs import config
    from jobs.common import table_env
    cfg = config.load(env_name)
    env, tenv = table_env(cfg, f"bench-sql-{variant}")
    tenv.execute_sql("CREATE TABLE sink (a STRING, b STRING) WITH ('connector'='blackhole')")
    table = _table(variant, tenv, cfg, path)
    c0, t0 = _jvm_cpu(), time.monotonic()
    table.execute_insert("sink").wait()   # a bounded file: the job ends when it is read
    return {"variant": variant, "jvm_cpu_s": _jvm_cpu() - c0, "wall_s": time.monotonic() - t0,
            "records": records}


def main(argv=None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0], duration=0)
    p.add_argument("--events", type=int, default=300_000, help="records in the file")
    p.add_argument("--users", type=int, default=5000, help="users in the synthetic world")
    p.add_argument("--repeat", type=int, default=2, help="runs of each variant, interleaved")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    p.add_argument("--one", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)   # a child run
    for action in p._actions:   # the shared parser's --duration: here the file's size sets a run's length
        if action.dest == "duration":
            action.help = "not used: --events sets how long each run takes"
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.one[0], a.one[1], a.events, a.env)))
        return 0
    variants = [v for v in a.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    from scripts.bench_profile import world_events
    with tempfile.TemporaryDirectory(prefix="adstream-bench-sql-") as d:
        path = Path(d) / "events.txt"
        print(f"writing {a.events:,} events for {a.users:,} users …", flush=True)
        path.write_bytes(b"\n".join(e.encode() for e in world_events(a.events, a.users)) + b"\n")
        probe0, runs = benchlib.cpu_probe(), []
        for r in range(a.repeat):
            for v in variants:
                out = subprocess.run([sys.executable, __file__, "--events", str(a.events), "--env", a.env, "--one", v, str(path)],
                                     capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
                x = runs[-1]
                print(f"run {r + 1} {v:<14} {x['jvm_cpu_s'] / a.events * 1e6:6.1f} µs JVM CPU per record "
                      f"({x['wall_s']:.1f} s wall)", flush=True)
        probe1 = benchlib.cpu_probe()
    per = {v: [x["jvm_cpu_s"] / a.events * 1e6 for x in runs if x["variant"] == v] for v in variants}
    figures = {"events": a.events, "runs": runs, "cpu_probe_ms": [probe0, probe1],
               "jvm_us_per_record": {v: min(xs) for v, xs in per.items()}}
    rows = [(v, " / ".join(f"{x:.1f}" for x in xs) + " µs per record") for v, xs in per.items()]
    benchlib.report("profile SQL: JVM CPU per record (each run)", rows, figures, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
