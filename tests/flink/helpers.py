"""Run job graphs on in-memory input (no Kafka): the same build() the jobs use."""
from __future__ import annotations


def collection_source(env, tenv, cfg, name: str, lines: list[str]) -> None:
    """Register ``name`` as a raw-clickstream table over an in-memory list of records."""
    from pyflink.common import Types
    from pyflink.table import DataTypes, Schema
    from jobs.profile import source_columns
    cols, watermark = source_columns(cfg, value="f0")
    schema = Schema.new_builder().column("f0", DataTypes.STRING())
    for k, expr in cols.items():
        schema = schema.column_by_expression(k, expr)
    schema = schema.watermark("rt", watermark).build()
    ds = env.from_collection(lines, type_info=Types.STRING())
    tenv.create_temporary_view(name + "_in", tenv.from_data_stream(ds, schema))
    tenv.create_temporary_view(name, tenv.sql_query(
        f"SELECT f0 AS `value`, {', '.join(cols)} FROM {name}_in"))


def collect(stream) -> list[str]:
    with stream.execute_and_collect() as results:
        return list(results)


def collect_rows(table) -> list:
    """A bounded Table's rows as tuples."""
    with table.execute().collect() as results:
        return [tuple(r) for r in results]



def value_table(tenv, values: list):
    """A bounded Table(v STRING) over ``values`` as a Kafka source with the raw format reads
    them, ``None`` included (a record without a value is a NULL ``v``)."""
    from pyflink.table import DataTypes
    return tenv.from_elements([(v,) for v in values],
                              DataTypes.ROW([DataTypes.FIELD("v", DataTypes.STRING())]))


def feedback_source(env, tenv, cfg, name: str, records: list[tuple[str, str | None]]) -> None:
    """Register ``name`` as the feedback job's source table (v, topic, rt + watermark) over
    in-memory (topic name, value) records, ``None`` values included."""
    from pyflink.common import Types
    from pyflink.table import DataTypes, Schema
    from jobs.feedback import time_columns
    cols, watermark = time_columns(cfg, value="v")
    schema = (Schema.new_builder().column("topic", DataTypes.STRING()).column("v", DataTypes.STRING())
              .column_by_expression("rt", cols["rt"]).column_by_expression("pt", "PROCTIME()")
              .watermark("rt", watermark).build())
    ds = env.from_collection(records, type_info=Types.ROW_NAMED(["topic", "v"], [Types.STRING(), Types.STRING()]))
    tenv.create_temporary_view(name, tenv.from_data_stream(ds, schema))
