"""Scoring job: ad requests → ranked ads and the served log (keyed by request id) + dead letters.

SQL Kafka source (raw values, offsets in checkpoints) → key by user id (anonymous:
request id), computed in SQL and keyed in the JVM → Python scoring step with keyed
caps state → SQL Kafka sinks that set the record key (``ranked-ads`` and ``served-log``: request
id; dead letters: request id when one could be read). The catalogue, the model and the feature store are
opened inside the scoring step (udfs/flink/scoring.py). Latency knobs come from
``scoring_job`` (its own bundle size/time and buffer timeout, not the profile
job's). See docs/scoring-job.md.

Shape: ``build`` is the whole graph from a table of raw requests to the two outputs
(``score``: the Python step; ``route``: its tagged rows split by tag), over any source;
``start`` only adds the Kafka source and sinks, so tests/flink/test_scoring_graph.py
runs ``build`` on an in-memory table.

Erasure requests (``erasure.v1``) are a second Kafka source, keyed by their ``user_id`` like the
user's requests and tagged ``E``: the step drops the user's caps state and writes an audit record
to ``erasure-audit.v1`` (docs/privacy.md, "Erasure").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs import submit
from jobs.common import (add_restore_args, kafka_table_options, keyed_by_first_column, restore_path,
                         run_until_interrupted, table_env)
from udfs import config
from udfs.messages import topics
from udfs.config import Config

JOB = "adstream-scoring"


def latency_settings(cfg: Config) -> dict[str, str]:
    j = cfg.scoring_job
    return {
        "python.execution-mode": j.python_execution_mode,
        "python.fn-execution.bundle.size": str(j.bundle_size),
        "python.fn-execution.bundle.time": str(j.bundle_time_ms),
        "execution.buffer-timeout.interval": f"{j.buffer_timeout_ms} ms",
        # SQL operators (the sinks) get uids from their plan, so a restart maps their state.
        "table.exec.uid.generation": "ALWAYS",
    }


def catalog_path(cfg: Config, override: str | None = None) -> str | None:
    """The initial catalogue file: ``--catalog`` (relative to the working directory, as a
    command-line path is) or ``scoring_job.catalog_file`` (already absolute); None for none."""
    p = override if override is not None else cfg.scoring_job.catalog_file
    return str(Path(p).resolve()) if p else None


# Partition key: the user (caps state lives there); an anonymous request spreads by its id.
# Computed in the JVM: a malformed or null value gives NULL → '' (any key will do, the
# scoring step dead-letters it).
KEY_SQL = ("COALESCE(NULLIF(JSON_VALUE(v, '$.user_id'), ''), "
           "NULLIF(JSON_VALUE(v, '$.request_id'), ''), '')")


def request_table(tenv, cfg: Config):
    """The request topic as a Table(v STRING): one raw value per record, NULL for a record
    without a value (the raw format keeps it, so the scoring step can dead-letter it)."""
    opts = kafka_table_options(
        cfg, cfg.kafka.topics.ad_requests.name, group=cfg.scoring_job.group_id,
        # A fresh job starts where its group left off (else at the beginning): no request is skipped.
        startup="group-offsets",
        extra={"properties.auto.offset.reset": "earliest",
               "properties.fetch.max.wait.ms": str(cfg.scoring_job.fetch_max_wait_ms)})
    tenv.execute_sql(f"CREATE TABLE scoring_requests (v STRING) WITH ({opts})")
    return tenv.from_path("scoring_requests")


def erasure_table(tenv, cfg: Config):
    """The erasure topic as a Table(v STRING), in the scoring job's group (offsets in its checkpoints)."""
    opts = kafka_table_options(cfg, cfg.kafka.topics.erasure.name, group=cfg.scoring_job.group_id,
                               startup="group-offsets", extra={"properties.auto.offset.reset": "earliest"})
    tenv.execute_sql(f"CREATE TABLE scoring_erasures (v STRING) WITH ({opts})")
    return tenv.from_path("scoring_erasures")


def keyed_requests(tenv, requests, erasures=None):
    """Table(v) of raw requests → KeyedStream of the raw values, keyed by ``KEY_SQL``; with
    ``erasures`` (a Table(v) of erasure requests) those too, keyed by their user and tagged
    ``ERASURE`` (a request's JSON never starts with it)."""
    from pyflink.common import Types
    from udfs.flink.scoring import ERASURE
    tenv.create_temporary_view("scoring_in", requests)
    pairs = [tenv.sql_query(f"SELECT {KEY_SQL} AS k, v FROM scoring_in")]
    if erasures is not None:
        tenv.create_temporary_view("scoring_erasures_in", erasures)
        pairs.append(tenv.sql_query(
            f"SELECT JSON_VALUE(v, '$.user_id') AS k, CONCAT('{ERASURE}', v) AS v "
            "FROM scoring_erasures_in WHERE JSON_VALUE(v, '$.user_id') IS NOT NULL"))
    # Each source's rows are keyed on their own path (keyed_by_first_column): no union task.
    return keyed_by_first_column(tenv, pairs, Types.STRING(), Types.STRING())


def score(keyed, cfg: Config, catalog_file: str | None, function=None):
    """KeyedStream of raw requests (``keyed_requests``) → DataStream[Row(kind, k, v)]: ``R``
    responses, ``D`` dead letters.

    ``function``: the step's class (``ScoringFunction``; tests hand in a subclass that fails)."""
    from udfs.flink.scoring import OUTPUT_TYPE, ScoringFunction
    fn = (function or ScoringFunction)(config.to_dict(cfg), catalog_file, JOB)
    return (keyed
            .process(fn, output_type=OUTPUT_TYPE)
            .name("scoring.rank").uid("scoring.rank.v1"))


def route(tenv, scored) -> dict:
    """The tagged rows split by their tag into the job's outputs, by topic key: Tables (k, v)."""
    from udfs.flink.scoring import AUDIT, DEAD, RESPONSE, SERVED   # the row tags: one owner, the step that writes them
    tenv.create_temporary_view("scoring_out", tenv.from_data_stream(scored))
    return {"ranked_ads": tenv.sql_query(f"SELECT k, v FROM scoring_out WHERE kind = '{RESPONSE}'"),
            "served_log": tenv.sql_query(f"SELECT k, v FROM scoring_out WHERE kind = '{SERVED}'"),
            "dead_letter": tenv.sql_query(f"SELECT k, v FROM scoring_out WHERE kind = '{DEAD}'"),
            "erasure_audit": tenv.sql_query(f"SELECT k, v FROM scoring_out WHERE kind = '{AUDIT}'")}


def build(tenv, requests, cfg: Config, catalog_file: str | None, function=None, erasures=None) -> dict:
    """The job without Kafka: a Table(v STRING) of raw requests (any source) → its outputs,
    ``ranked_ads``, ``served_log``, ``dead_letter`` and ``erasure_audit`` Tables (k, v) (what
    ``start`` writes to those topics); ``erasures``: a Table(v) of erasure requests, or None."""
    return route(tenv, score(keyed_requests(tenv, requests, erasures), cfg, catalog_file, function))


def sink_ddl(cfg: Config, name: str, topic: str) -> str:
    opts = kafka_table_options(cfg, topic, extra={
        "key.format": "raw", "key.fields": "k", "value.fields-include": "EXCEPT_KEY",
        # At least once: after a restart a response may repeat (idempotent by request id), never vanish.
        "sink.delivery-guarantee": "at-least-once"})
    return f"CREATE TABLE {name} (k STRING, v STRING) WITH ({opts})"


# Output (topic key) -> its SQL sink table; the names are part of the plan a checkpoint maps to.
SINKS = {"ranked_ads": "ranked_ads_sink", "served_log": "served_log_sink", "dead_letter": "scoring_dlq_sink",
         "erasure_audit": "scoring_audit_sink"}


def add_sinks(tenv, outputs: dict, cfg: Config):
    """Statement set writing each output (``route``) to its topic, keyed by ``k``."""
    for key in outputs:
        tenv.execute_sql(sink_ddl(cfg, SINKS[key], topics.name_of(cfg, key)))
    stmts = tenv.create_statement_set()
    for key, table in outputs.items():
        stmts.add_insert(SINKS[key], table)
    stmts.attach_as_datastream()


def start(cfg: Config, *, restore_from: str | None = None, catalog_file: str | None = None, function=None,
          cluster: bool = False):
    """Submit the job (embedded local mini-cluster, or ``cluster``: inside ``flink run``); its JobClient."""
    # A broken experiments file stops the start with its reason (ConfigError); once running,
    # the job refuses a broken edit and keeps the last good file instead.
    config.load_experiments(cfg.scoring_job.experiments_file)
    extra = latency_settings(cfg)
    if restore_from:
        extra["execution.state-recovery.path"] = restore_from
    env, tenv = table_env(cfg, JOB, extra, cluster)
    outputs = build(tenv, request_table(tenv, cfg), cfg, catalog_path(cfg, catalog_file), function,
                    erasures=erasure_table(tenv, cfg))
    add_sinks(tenv, outputs, cfg)
    return env.execute_async(JOB)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scoring", help="ad requests → ranked ads (catalogue, caps, Feast, ONNX, auction)",
                       description="Answer every ad request on the ranked-ads topic: eligible ads by "
                                   "targeting, schedule, budget and frequency caps, scored in one ONNX "
                                   "call with the user's Feast profile, auctioned (eCPM, reserve, "
                                   "diversity, second price). Falls back to flagged contextual ranking "
                                   "when the user or the feature store is unavailable; malformed "
                                   "requests also go to the dead-letter topic. Follows the ads.catalog "
                                   "topic, the model registry's current pointer and the experiments file "
                                   "(scoring_job.experiments_file, docs/experiments.md) while running.")
    p.add_argument("--catalog", metavar="FILE", default=None,
                   help="initial catalogue JSON (default: scoring_job.catalog_file; '' = topic only)")
    add_restore_args(p)
    submit.add_target_args(p)
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    restore_from = restore_path(cfg, JOB, a)
    if a.target == "cluster":
        # The catalogue path as resolved here (absolute): the driver's working directory differs.
        args = [] if a.catalog is None else ["--catalog", catalog_path(cfg, a.catalog) or ""]
        return submit.submit(cfg, "jobs.scoring", JOB, args, restore_from, a.follow)
    client = start(cfg, restore_from=restore_from, catalog_file=a.catalog, cluster=a.in_cluster)
    return submit.submitted(client) if a.in_cluster else run_until_interrupted(client, "scoring", cfg, JOB)


if __name__ == "__main__":   # `flink run -pym jobs.scoring` (jobs/submit.py)
    sys.exit(submit.job_main(register, sys.argv[1:]))
