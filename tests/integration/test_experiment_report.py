"""``adstream experiment report --served-log`` on the real stack: requests come from the
served-log topic (all partitions, from the beginning to the end offsets), only this
experiment's labels count, a record that is not a served-log record is skipped, and
requests that got no impression are counted."""
from __future__ import annotations

import json

import pytest

from scripts.cli import experiment as cli
from scripts.cli.replay.producer import make_producer
from tests.support.experiment_support import FILE, ROW, T, args
from udfs import config
from udfs.core.experiments import bucket
from udfs.io.training_log_store import TrainingLogWriter
from udfs.messages import ServedLog
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.integration


def test_requests_are_counted_from_the_served_log(stack, fresh_topic, tmp_path):
    topic = fresh_topic("served", partitions=2)
    (tmp_path / "experiments.yaml").write_text(FILE)
    cfg = config.load("test", overrides=[f"kafka.topics.served_log.name={topic}",
                                         f"scoring_job.experiments_file={tmp_path / 'experiments.yaml'}"])
    users = [f"u{i}" for i in range(40)]
    arm = {u: "control" if bucket("salt-1", u) < 0.5 else "boost" for u in users}
    producer = make_producer(cfg)
    served, impressions = [], []
    for i, u in enumerate(users):
        for q in range(3):                      # three answers each; only the first got an impression
            rid = f"r-{u}-{q}"
            served.append(replace(EXAMPLES[ServedLog], request_id=rid, user_id=u, ts=T + 1000 * i + q,
                                  variant=f"ctr-test:{arm[u]}"))
        impressions.append(replace(ROW, impression_id=f"im-{u}", request_id=f"r-{u}-0", user_id=u,
                                   ts=T + 1000 * i, variant=f"ctr-test:{arm[u]}", clicked=i % 4 == 0))
    served.append(replace(EXAMPLES[ServedLog], request_id="other", user_id="u0", ts=T + 5, variant="control"))
    for m in served:
        producer.send(topic, key=m.request_id.encode(), value=m.to_json().encode())
    producer.send(topic, key=b"x", value=b'{"schema": "served_log", "v": 1}')
    producer.flush()
    producer.close()
    store = tmp_path / "tl"
    TrainingLogWriter(store.as_uri()).write(impressions, "p0-a")
    assert cli._main(cfg, args(training_log=store.as_uri(), served_log=True, out=str(tmp_path / "out"))) == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["requests_from"] == "served log"
    for name in ("control", "boost"):
        n = sum(a == name for a in arm.values())
        v = rep["variants"][name]
        assert (v["users"], v["requests"], v["impressions"]) == (n, 3 * n, n), (name, v)
    assert not any("--served-log" in w for w in rep["warnings"])
