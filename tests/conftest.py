"""Shared fixtures. Integration tests get a real stack on the test ports (conf/test.yaml).

The stack fixture starts Kafka and Redis only if they are not already up on those
ports, and at the end stops only what it started (scripts.stack.control keeps pids).
Ports move with ADSTREAM_TEST_KAFKA_PORT / ADSTREAM_TEST_REDIS_PORT / ..._CONTROLLER_PORT;
the cluster tier's Flink session cluster with ADSTREAM_TEST_FLINK_REST_PORT / ..._RPC_PORT.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from udfs import config

TESTS = Path(__file__).resolve().parent
# A test's tier is its folder, so no test can go unmarked (and be skipped by `-m`).
TIERS = ("unit", "contract", "flink", "integration", "e2e", "cluster")


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(TESTS)
        tier = rel.parts[0] if len(rel.parts) > 1 else None
        if tier not in TIERS:
            raise pytest.UsageError(f"{rel}: a test lives in one of tests/{{{','.join(TIERS)}}}/, "
                                    "which sets its tier marker")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def cfg():
    return config.load("test")


@pytest.fixture(scope="session")
def stack(cfg):
    from scripts.stack import control as st
    before = {s.name: s.alive and s.answers for s in st.status(cfg)}
    st.up(cfg)
    yield cfg
    if not all(before.values()):
        st.down(cfg)


@pytest.fixture
def fresh_topic(stack):
    """Create a uniquely named topic for one test, so tests never read each other's records."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, partitions, 1)])
        made.append(name)
        return name

    yield make
    if made:
        admin.delete_topics(made)
    admin.close()
