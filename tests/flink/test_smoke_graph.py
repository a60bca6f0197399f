"""The smoke job's graph (``jobs.smoke.build``) on an in-memory table: no Kafka."""
import pytest

from udfs import config

pytestmark = pytest.mark.flink


def test_every_value_passes_through_the_python_udf():
    from pyflink.table import DataTypes
    from jobs.common import table_env
    from jobs.smoke import build
    from tests.flink.helpers import collect_rows
    _env, tenv = table_env(config.load("test"), "test-smoke-graph")
    source = tenv.from_elements([("a",), ("b",), ("",)],
                                DataTypes.ROW([DataTypes.FIELD("value", DataTypes.STRING())]))
    assert sorted(collect_rows(build(source))) == [("smoke:",), ("smoke:a",), ("smoke:b",)]
