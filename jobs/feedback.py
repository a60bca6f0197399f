"""Feedback job: served log, impressions, clicks and conversions → attributed events (+ dead letters).

One SQL Kafka source over the four topics (raw values, the topic as metadata, event time
from each record's ``ts`` with a watermark) → two keyed joins in Python, each keyed in
the JVM on a key SQL computes (``keyed_by_first_column``), then two stages that write the
online store, each called once per key and processing-time slice (``slices``):

1. ``feedback.pricing.v1`` keyed by request id: served log ⨝ impressions. An impression
   is priced from the served log (never from the ad server's event).
2. ``feedback.attribution.v1`` keyed by impression id: priced impressions ⨝ clicks ⨝
   conversions, within the attribution windows; each impression's labelled training row
   (and its corrections) goes to the ``training_log`` topic.
3. ``feedback.seen.v2`` keyed by a fixed shard of the user id: a slice of priced impressions
   counted into what their users have seen (frequency caps on impressions), written beside
   the users' profiles. The erasure topic is a fifth input of the same source, routed here by
   the same shard of its ``user_id``: a request drops the user's caps state and leaves a
   tombstone (udfs/flink/feedback_erasure.py); its audit record goes to ``erasure-audit.v1``.
4. ``feedback.stats.v1`` keyed by campaign id: a slice of attributed events folded into the
   campaign's and its creatives' statistics and spend, written to the online store.

The joins de-duplicate by event id in keyed state and reject, with a reason, what they
cannot attribute (dead letters). Their ``Attributed`` records, keyed by campaign, are the
job's ``attributed`` output. See docs/feedback-job.md.

Shape (as the scoring job): ``build`` is the whole graph from a source table to the
outputs, over any source with the columns of ``SOURCE_COLUMNS``; ``start`` adds Kafka.
"""
from __future__ import annotations

import argparse
import sys

from jobs import submit
from jobs.common import (add_restore_args, kafka_table_options, keyed_by_first_column, restore_path,
                         run_until_interrupted, table_env)
from udfs import config
from udfs.config import Config
from udfs.messages import topics

JOB = "adstream-feedback"
INPUTS = ("served_log", "impressions", "ad_clicks", "conversions")   # cfg.kafka.topics keys
ERASURES = "erasure"   # the topic key of the erasure requests, read by the same source


def time_columns(cfg: Config, value: str = "v") -> tuple[dict[str, str], str]:
    """The event-time column of a raw feedback record, and the watermark.

    As the profile job's (``jobs.profile.source_columns``): only a ts inside the configured
    bounds becomes the row's time, so one wrong clock cannot move the watermark; anything
    else is epoch 0 and the Python step names the fault."""
    ooo = cfg.feedback.max_out_of_orderness_ms / 1000
    ts = f"TRY_CAST(JSON_VALUE({value}, '$.ts') AS BIGINT)"
    ahead = f"{ts} > UNIX_TIMESTAMP() * 1000 + {cfg.messages.max_future_skew_ms}"
    rt = (f"TO_TIMESTAMP_LTZ(CASE WHEN {ts} < {cfg.messages.min_ts_ms} OR {ahead} THEN 0 "
          f"ELSE COALESCE({ts}, 0) END, 3)")
    return {"rt": rt}, f"rt - INTERVAL '{ooo:.3f}' SECOND"


def source_ddl(cfg: Config, name: str, start: str = "group-offsets") -> str:
    """The four feedback topics and the erasure requests as one table (v STRING, topic STRING,
    rt + watermark, pt: processing time).

    ``start``: ``group-offsets`` (the group's committed offsets, else the beginning: nothing
    is skipped) or ``latest-offset`` (only what arrives from now on: a demo that must not
    wade through a replayed history first)."""
    names = ";".join(topics.name_of(cfg, k) for k in (*INPUTS, ERASURES))
    opts = kafka_table_options(cfg, names, group=cfg.feedback.group_id, startup=start,
                               extra={"properties.auto.offset.reset": "earliest"})
    cols, wm = time_columns(cfg)
    # pt: the erasure requests join the seen stage's processing-time slices straight from here
    return (f"CREATE TABLE {name} (\n  v STRING,\n  topic STRING METADATA VIRTUAL,\n"
            f"  rt AS {cols['rt']},\n  pt AS PROCTIME(),\n  WATERMARK FOR rt AS {wm}\n) WITH ({opts})")


def _tagged(cfg: Config, keys: tuple[str, ...]) -> str:
    """SQL of a record's prefix: its kind (``udfs.flink.feedback.TAGS``), then 1 (a value) or 0."""
    from udfs.flink.feedback import TAGS
    by_key = {key: tag for tag, (key, _) in TAGS.items()}
    cases = " ".join(f"WHEN '{topics.name_of(cfg, k)}' THEN '{by_key[k]}'" for k in keys)
    return f"CONCAT(CASE topic {cases} END, CASE WHEN v IS NULL THEN '0' ELSE '1' END, COALESCE(v, ''))"


def _in(cfg: Config, keys: tuple[str, ...]) -> str:
    return ", ".join(f"'{topics.name_of(cfg, k)}'" for k in keys)


def _stage(tenv, fn, pairs, uid: str, key_type=None):
    """Table(key, value STRING), or a list of them, → ``fn`` keyed in the JVM by the key → DataStream of OUTPUT_TYPE rows."""
    from pyflink.common import Types
    from udfs.flink.feedback import OUTPUT_TYPE
    keyed = keyed_by_first_column(tenv, pairs, key_type or Types.STRING(), Types.STRING())
    return keyed.process(fn, output_type=OUTPUT_TYPE).name(uid.rsplit(".", 1)[0]).uid(uid)


def slices(tenv, name: str, rows_sql: str, slice_ms: int):
    """``rows_sql`` (columns key, v, pt: a processing-time attribute) → Table(key, lines STRING:
    JSON array of the key's values), one row per key and processing-time slice of ``slice_ms``.

    Processing time, so a quiet stream still flushes within one slice; a finished in-memory
    source never fires its last slice (tests feed the stages slices of their own)."""
    tenv.create_temporary_view(name, tenv.sql_query(rows_sql))
    # JSON_ARRAYAGG, not ARRAY_AGG: PyFlink cannot hand ARRAY columns to Python (2.2.1).
    return tenv.sql_query(f"""
SELECT key, JSON_ARRAYAGG(v) AS lines
FROM TABLE(TUMBLE(TABLE {name}, DESCRIPTOR(pt), INTERVAL '{slice_ms / 1000:.3f}' SECOND))
GROUP BY key, window_start, window_end""")


def _store_stages(tenv, cfg: Config, fns: dict, cfg_dict: dict, source: str) -> None:
    """The seen and statistics stages (udfs/flink/feedback_slices.py) over the priced and
    attributed views; their outputs as views ``feedback_seen`` (dead letters, audit records)
    and ``feedback_stats`` (dead letters).

    Seen: ``Priced[2]`` is the user id (Priced is an array on the wire); anonymous impressions
    cap nobody; users hashed onto ``feedback.seen_shards`` fixed keys, never the parallelism
    (the profile job's expression), an erasure request by its ``user_id`` onto the same key."""
    from pyflink.common import Types
    from udfs.flink.feedback import ATTRIBUTED, PRICED
    from udfs.flink.feedback_erasure import ERASURE
    f, user, asked = cfg.feedback, "JSON_VALUE(v, '$[2]')", "JSON_VALUE(v, '$.user_id')"
    seen = slices(tenv, "feedback_seen_in", f"""
SELECT ABS(MOD(HASH_CODE({user}), {f.seen_shards})) AS key, v, pt FROM feedback_priced
WHERE kind = '{PRICED}' AND {user} IS NOT NULL
UNION ALL
SELECT ABS(MOD(HASH_CODE({asked}), {f.seen_shards})) AS key, CONCAT('{ERASURE}', v) AS v, pt FROM {source}
WHERE topic = '{topics.name_of(cfg, ERASURES)}' AND {asked} IS NOT NULL""", f.seen_slice_ms)
    tenv.create_temporary_view("feedback_seen", tenv.from_data_stream(
        _stage(tenv, fns["seen"](cfg_dict, JOB), seen, "feedback.seen.v2", Types.INT())))
    stats = slices(tenv, "feedback_stats_in", f"""
SELECT k AS key, v, pt FROM feedback_priced WHERE kind = '{ATTRIBUTED}' UNION ALL
SELECT k AS key, v, pt FROM feedback_attributed WHERE kind = '{ATTRIBUTED}'""", f.write_interval_ms)
    tenv.create_temporary_view("feedback_stats", tenv.from_data_stream(
        _stage(tenv, fns["stats"](cfg_dict, JOB), stats, "feedback.stats.v1")))


def read_once(tenv, source: str, name: str = "feedback_in") -> str:
    """``source`` (v, topic, rt + watermark) as a view ``name`` over one DataStream of it.

    Why: the job's queries reach Python through DataStreams (``keyed_by_first_column``), and
    each conversion is planned on its own, so each query over the source table got a Kafka
    source of its own: the job read every topic three times, and each time parsed every record's
    ``ts`` for the event time and watermark (JFR, 2026-12-03: the three source tasks were 70 % of
    the JVM's samples, docs/benchmarks.md). Queries over this view share one source; its
    watermarks pass through (``SOURCE_WATERMARK()``), and ``pt`` is processing time again."""
    from pyflink.table import DataTypes, Schema
    ds = tenv.to_data_stream(tenv.sql_query(f"SELECT v, topic, rt FROM {source}"))
    schema = (Schema.new_builder().column("v", DataTypes.STRING()).column("topic", DataTypes.STRING())
              .column("rt", DataTypes.TIMESTAMP_LTZ(3)).column_by_expression("pt", "PROCTIME()")
              .watermark("rt", "SOURCE_WATERMARK()").build())
    tenv.create_temporary_view(name, tenv.from_data_stream(ds, schema))
    return name


def build(tenv, cfg: Config, source: str, functions: dict | None = None) -> dict:
    """The job without Kafka: table ``source`` (v, topic, rt) → ``attributed`` (k: campaign id,
    v: Attributed), ``training_log`` (k: impression id, v: TrainingRow) and ``dead_letter``
    (k, v) Tables. ``functions`` replaces a join's class
    (tests: one that fails on purpose)."""
    from pyflink.table import Schema
    from udfs.flink.feedback import ATTRIBUTED, DEAD, PRICED, TRAINING, AttributionFunction, PricingFunction
    from udfs.flink.feedback_erasure import AUDIT
    from udfs.flink.feedback_slices import SeenFunction, StatsFunction
    fns = {"pricing": PricingFunction, "attribution": AttributionFunction, "seen": SeenFunction,
           "stats": StatsFunction, **(functions or {})}
    cfg_dict = config.to_dict(cfg)
    source = read_once(tenv, source)
    first = tenv.sql_query(f"""
SELECT COALESCE(JSON_VALUE(v, '$.request_id'), '') AS k, {_tagged(cfg, INPUTS[:2])} AS v
FROM {source} WHERE topic IN ({_in(cfg, INPUTS[:2])})""")
    priced = _stage(tenv, fns["pricing"](cfg_dict, JOB), first, "feedback.pricing.v1")
    pt = Schema.new_builder().column_by_expression("pt", "PROCTIME()").build()   # the store stages' slices
    tenv.create_temporary_view("feedback_priced", tenv.from_data_stream(priced, pt))
    # Two queries, not one UNION ALL: each reaches the keyed join on its own path
    # (keyed_by_first_column), with no two-input conversion task between them.
    second = [tenv.sql_query(f"SELECT k, CONCAT('{PRICED}1', v) AS v FROM feedback_priced WHERE kind = '{PRICED}'"),
              tenv.sql_query(f"""
SELECT COALESCE(JSON_VALUE(v, '$.impression_id'), '') AS k, {_tagged(cfg, INPUTS[2:])} AS v
FROM {source} WHERE topic IN ({_in(cfg, INPUTS[2:])})""")]
    attributed = _stage(tenv, fns["attribution"](cfg_dict, JOB), second, "feedback.attribution.v1")
    tenv.create_temporary_view("feedback_attributed", tenv.from_data_stream(attributed, pt))
    _store_stages(tenv, cfg, fns, cfg_dict, source)
    both = "SELECT k, v FROM feedback_priced WHERE kind = '{0}' UNION ALL " \
           "SELECT k, v FROM feedback_attributed WHERE kind = '{0}'"
    return {"attributed": tenv.sql_query(both.format(ATTRIBUTED)),
            "training_log": tenv.sql_query(f"SELECT k, v FROM feedback_attributed WHERE kind = '{TRAINING}'"),
            "dead_letter": tenv.sql_query(both.format(DEAD) + f" UNION ALL SELECT k, v FROM feedback_seen"
                                          f" WHERE kind = '{DEAD}' UNION ALL SELECT k, v FROM feedback_stats"),
            "erasure_audit": tenv.sql_query(f"SELECT k, v FROM feedback_seen WHERE kind = '{AUDIT}'")}


def sink_ddl(cfg: Config, name: str, topic: str) -> str:
    opts = kafka_table_options(cfg, topic, extra={
        "key.format": "raw", "key.fields": "k", "value.fields-include": "EXCEPT_KEY",
        # At least once: a restart may repeat a dead letter or a training row, never lose one
        # (a repeated training row is identical and its reader keeps one).
        "sink.delivery-guarantee": "at-least-once"})
    return f"CREATE TABLE {name} (k STRING, v STRING) WITH ({opts})"


def start(cfg: Config, *, restore_from: str | None = None, functions: dict | None = None,
          start_at: str = "group-offsets", cluster: bool = False):
    """Submit the job (embedded local mini-cluster, or ``cluster``: inside ``flink run``); its JobClient."""
    extra = {"table.exec.uid.generation": "ALWAYS"}   # SQL operators keep their state across restarts
    if restore_from:
        extra["execution.state-recovery.path"] = restore_from
    env, tenv = table_env(cfg, JOB, extra, cluster)
    tenv.execute_sql(source_ddl(cfg, "feedback_raw", start_at))
    outputs = build(tenv, cfg, "feedback_raw", functions)
    tenv.execute_sql(sink_ddl(cfg, "feedback_dlq_sink", cfg.kafka.topics.dead_letter.name))
    tenv.execute_sql(sink_ddl(cfg, "feedback_training_sink", cfg.kafka.topics.training_log.name))
    tenv.execute_sql(sink_ddl(cfg, "feedback_audit_sink", cfg.kafka.topics.erasure_audit.name))
    stmts = tenv.create_statement_set()
    stmts.add_insert("feedback_dlq_sink", outputs["dead_letter"])
    stmts.add_insert("feedback_training_sink", outputs["training_log"])
    stmts.add_insert("feedback_audit_sink", outputs["erasure_audit"])
    stmts.attach_as_datastream()
    return env.execute_async(JOB)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feedback", help="impressions, clicks, conversions → attributed events",
                       description="Join every impression to the served-log entry it was shown from "
                                   "(its price), every click and conversion to its impression within the "
                                   "attribution windows, de-duplicated by event id; what cannot be "
                                   "attributed (duplicate, orphan, late, invalid) goes to the dead-letter "
                                   "topic with a reason.")
    p.add_argument("--from", dest="start_at", choices=("group", "latest"), default="group",
                   help="where a start without a checkpoint begins: the consumer group's offsets "
                        "(else the beginning; nothing skipped), or only records from now on")
    add_restore_args(p)
    submit.add_target_args(p)
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    restore_from = restore_path(cfg, JOB, a)
    if a.target == "cluster":
        return submit.submit(cfg, "jobs.feedback", JOB, ["--from", a.start_at], restore_from, a.follow)
    start_at = "latest-offset" if a.start_at == "latest" else "group-offsets"
    client = start(cfg, restore_from=restore_from, start_at=start_at, cluster=a.in_cluster)
    return submit.submitted(client) if a.in_cluster else run_until_interrupted(client, "feedback", cfg, JOB)


if __name__ == "__main__":   # `flink run -pym jobs.feedback` (jobs/submit.py)
    sys.exit(submit.job_main(register, sys.argv[1:]))
