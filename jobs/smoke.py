"""Smoke job: copy a Kafka topic to another through a Python UDF.

Proves that the pinned apache-flink, the Flink Kafka connector jar and the
Python workers pair on this machine: ``adstream job smoke --source T1 --sink T2``.
The graph is built by ``build`` from table names, so a test can run it on any tables.
"""
from __future__ import annotations

import argparse

from jobs.common import kafka_table_options, table_env
from udfs.config import Config


def tag(value: str) -> str:
    """The 'business logic': mark a record as having passed through Python."""
    return f"smoke:{value}"


def build(source):
    """source Table(value STRING) -> Table(value STRING) with every value tagged in Python."""
    from pyflink.table import DataTypes
    from pyflink.table.expressions import call, col
    from pyflink.table.udf import udf
    return source.select(call(udf(tag, result_type=DataTypes.STRING()), col("value")).alias("value"))


def run(cfg: Config, source_topic: str, sink_topic: str, bounded: bool = True) -> None:
    _env, tenv = table_env(cfg, "adstream-smoke")
    tenv.execute_sql(f"CREATE TABLE src (`value` STRING) WITH ("
                     f"{kafka_table_options(cfg, source_topic, group='adstream-smoke', bounded=bounded)})")
    tenv.execute_sql(f"CREATE TABLE dst (`value` STRING) WITH ({kafka_table_options(cfg, sink_topic)})")
    build(tenv.from_path("src")).execute_insert("dst").wait()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("smoke", help="copy one topic to another through a Python UDF (checks the jars)")
    p.add_argument("--source", required=True, help="topic to read from the earliest offset")
    p.add_argument("--sink", required=True, help="topic to write 'smoke:<value>' records to")
    p.add_argument("--follow", action="store_true", help="keep running instead of stopping at the end")
    p.set_defaults(func=lambda cfg, a: run(cfg, a.source, a.sink, bounded=not a.follow))
