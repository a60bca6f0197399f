"""Profile job: clickstream → per-user profiles in the Feast online store (+ dead letters).

JVM (SQL): read raw records, pull ``user_id``/``ts`` out with JSON_VALUE for keying
and event time, flag records behind the watermark by more than the allowed
lateness, and cut the stream into short processing-time slices per shard (one of
``profile.shards`` virtual shards of the user id, independent of the parallelism).
Python (one call per shard and slice): validate, dedupe, fold into keyed state,
write the users' new profiles to Feast; invalid/late/duplicate → dead-letter topic.
Erasure requests (``erasure.v1``) are a second Kafka source of the same shape, unioned in
before the shards are cut: routed by the same ``uid`` column, a request lands on the shard of
the user's events, and its offsets are in the same checkpoints as theirs (docs/privacy.md,
"Erasure"). Each request's audit record goes to ``erasure-audit.v1``.
See docs/profile-job.md for why the work is split this way.
"""
from __future__ import annotations

import argparse
import sys

from jobs import submit
from jobs.common import add_restore_args, kafka_table_options, restore_path, run_until_interrupted, table_env
from udfs import config
from udfs.core import profile_batch, shards
from udfs.config import Config
from udfs.io import keyword_map

JOB = "adstream-profile"


def source_columns(cfg: Config, value: str = "`value`") -> tuple[dict[str, str], str]:
    """Computed columns of the raw clickstream (key, event time, processing time) and the watermark.

    Only an event time inside the configured bounds (``messages.min_ts_ms`` to the clock plus
    ``messages.max_future_skew_ms``) becomes the row's time: one event from a wrong clock
    ten years ahead would otherwise move the watermark, and every on-time event after it
    would look late. Out of bounds, unparseable or absent → epoch 0 (behind the watermark,
    never in front of it); Python then names the real fault. The bounds also keep
    TO_TIMESTAMP_LTZ away from values it cannot convert.
    """
    ooo = cfg.profile.max_out_of_orderness_ms / 1000
    ts = f"TRY_CAST(JSON_VALUE({value}, '$.ts') AS BIGINT)"
    ahead = f"{ts} > UNIX_TIMESTAMP() * 1000 + {cfg.messages.max_future_skew_ms}"
    cols = {
        "uid": f"COALESCE(JSON_VALUE({value}, '$.user_id'), '')",
        "ahead": f"COALESCE({ahead}, FALSE)",
        "rt": f"TO_TIMESTAMP_LTZ(CASE WHEN {ts} < {cfg.messages.min_ts_ms} OR {ahead} THEN 0 "
              f"ELSE COALESCE({ts}, 0) END, 3)",
        "pt": "PROCTIME()",
    }
    return cols, f"rt - INTERVAL '{ooo:.3f}' SECOND"


def source_ddl(cfg: Config, name: str, with_clause: str) -> str:
    """The raw clickstream table: one STRING per record, with key and event-time columns."""
    cols, watermark = source_columns(cfg)
    body = ",\n  ".join(["`value` STRING", *(f"{k} AS {v}" for k, v in cols.items()),
                         f"WATERMARK FOR rt AS {watermark}"])
    return f"CREATE TABLE {name} (\n  {body}\n) WITH ({with_clause})"


def slices(tenv, cfg: Config, source: str, erasures: str | None = None):
    """source table (see ``source_ddl``) → Table(shard INT, lines STRING: JSON array of flagged records).

    ``erasures``: a table of the same shape over the erasure topic; its records are flagged
    ``E`` (never late: a request is carried out whenever it arrives).

    Processing-time slices, so a quiet stream still flushes within one slice; the
    price is that a bounded input's last slice never fires, so the job is unbounded.
    A record without a value (the raw format reads it as NULL; JSON_ARRAYAGG would drop
    it silently) becomes the line ``N``, which the Python step dead-letters and counts.
    """
    late_s = cfg.profile.allowed_lateness_ms / 1000
    slice_s = cfg.profile.batch_interval_ms / 1000
    f = profile_batch   # the record flags: one owner, the step that reads them
    n = cfg.profile.shards
    shards.check_layout(n, cfg.flink.parallelism, cfg.flink.max_parallelism)
    # Virtual shards, never the parallelism: a rescale then moves whole shards (key groups)
    # and no user changes shard. ABS after MOD: in [0, n) even for HASH_CODE = MIN_VALUE.
    cols = "`value`, uid, ahead, rt, pt"
    tenv.create_temporary_view("profile_input", tenv.sql_query(
        f"SELECT {cols}, FALSE AS erasure FROM {source}" +
        (f" UNION ALL SELECT {cols}, TRUE AS erasure FROM {erasures}" if erasures else "")))
    tenv.create_temporary_view("profile_flagged", tenv.sql_query(f"""
SELECT ABS(MOD(HASH_CODE(uid), {n})) AS shard,
       CASE WHEN `value` IS NULL THEN '{f.NULL_FLAG}'
            ELSE CONCAT(CASE WHEN erasure THEN '{f.ERASURE_FLAG}'
                             WHEN ahead THEN '{f.FUTURE_FLAG}'
                             WHEN rt < CURRENT_WATERMARK(rt) - INTERVAL '{late_s:.3f}' SECOND
                             THEN '{f.LATE_FLAG}' ELSE '{f.ON_TIME_FLAG}' END, `value`) END AS line,
       pt
FROM profile_input"""))
    # JSON_ARRAYAGG, not ARRAY_AGG: PyFlink cannot hand ARRAY columns to Python (2.2.1).
    return tenv.sql_query(f"""
SELECT shard, JSON_ARRAYAGG(line) AS lines
FROM TABLE(TUMBLE(TABLE profile_flagged, DESCRIPTOR(pt), INTERVAL '{slice_s:.3f}' SECOND))
GROUP BY shard, window_start, window_end""")


def apply(batches, cfg: Config, *, write_feast: bool, emit_profiles: bool, function=None):
    """DataStream of (shard, lines) → DataStream of tagged strings (``D``ead letters, ``P``rofiles).

    ``function``: the step's class (``ProfileFunction``; tests hand in a subclass that fails)."""
    from pyflink.common import Types
    from udfs.flink.profile import ProfileFunction
    fn = (function or ProfileFunction)(config.to_dict(cfg), cfg.kafka.topics.clicks.name,
                                       write_feast, emit_profiles, JOB)
    return (batches
            .key_by(lambda r: r[0], key_type=Types.INT())
            .process(fn, output_type=Types.STRING())
            .name("profile.apply").uid("profile.apply.v1"))


def build(tenv, cfg: Config, source: str, *, write_feast: bool = True, emit_profiles: bool = False,
          function=None, erasures: str | None = None):
    return apply(tenv.to_data_stream(slices(tenv, cfg, source, erasures)), cfg,
                 write_feast=write_feast, emit_profiles=emit_profiles, function=function)


def dead_letters(tagged):
    from udfs.flink.profile import DEAD
    return _tagged(tagged, DEAD, "profile.dlq")


def audits(tagged):
    """The erasure audit records of the step's output (``AUDIT``-tagged), as JSON strings."""
    from udfs.flink.profile import AUDIT
    return _tagged(tagged, AUDIT, "profile.audit")


def _tagged(tagged, tag: str, name: str):
    from pyflink.common import Types
    return (tagged.filter(lambda s: s[:1] == tag).name(f"{name}.filter").uid(f"{name}.filter.v1")
            .map(lambda s: s[1:], output_type=Types.STRING()).name(f"{name}.strip")
            .uid(f"{name}.strip.v1"))


def kafka_sink(cfg: Config, topic: str):
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
    return (KafkaSink.builder()
            .set_bootstrap_servers(cfg.kafka.bootstrap)
            .set_property("linger.ms", str(cfg.kafka.linger_ms))
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic(topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            # Dead letters are at-least-once: a restart may repeat one, never lose one.
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .build())


def start(cfg: Config, *, restore_from: str | None = None, write_feast: bool = True, function=None,
          cluster: bool = False):
    """Submit the job (embedded local mini-cluster, or ``cluster``: inside ``flink run``); its JobClient."""
    # A missing or broken keyword map is refused here, with its reason, before any worker
    # starts (each task loads it again at open).
    kmap = keyword_map.load(cfg.profile.keyword_map)
    if kmap is not None:
        print(f"keyword map {cfg.profile.keyword_map}: {len(kmap.rows):,} keywords (search intent on)")
    extra = {"execution.state-recovery.path": restore_from} if restore_from else None
    env, tenv = table_env(cfg, JOB, extra, cluster)
    tenv.execute_sql(source_ddl(cfg, "clicks_raw", kafka_table_options(
        cfg, cfg.kafka.topics.clicks.name, group="adstream-profile")))
    # The request has user_id and ts where a click has them: the same columns, the same shard.
    tenv.execute_sql(source_ddl(cfg, "erasure_raw", kafka_table_options(
        cfg, cfg.kafka.topics.erasure.name, group="adstream-profile")))
    tagged = build(tenv, cfg, "clicks_raw", write_feast=write_feast, function=function,
                   erasures="erasure_raw")
    dead_letters(tagged).sink_to(kafka_sink(cfg, cfg.kafka.topics.dead_letter.name)) \
        .name("profile.dlq.sink").uid("profile.dlq.sink.v1")
    audits(tagged).sink_to(kafka_sink(cfg, cfg.kafka.topics.erasure_audit.name)) \
        .name("profile.audit.sink").uid("profile.audit.sink.v1")
    return env.execute_async(JOB)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="clickstream → user profiles in the Feast online store",
                       description="Consume the clickstream topic, keep per-user profiles in Flink "
                                   "state and write them to the Feast online store (Redis); invalid, "
                                   "late and duplicate events go to the dead-letter topic. Erasure "
                                   "requests (erasure topic) drop the user's state and online hash "
                                   "and write an audit record to the erasure-audit topic.")
    add_restore_args(p)
    submit.add_target_args(p)
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    restore_from = restore_path(cfg, JOB, a)
    if a.target == "cluster":
        return submit.submit(cfg, "jobs.profile", JOB, [], restore_from, a.follow)
    client = start(cfg, restore_from=restore_from, cluster=a.in_cluster)
    return submit.submitted(client) if a.in_cluster else run_until_interrupted(client, "profile", cfg, JOB)


if __name__ == "__main__":   # `flink run -pym jobs.profile` (jobs/submit.py)
    sys.exit(submit.job_main(register, sys.argv[1:]))
