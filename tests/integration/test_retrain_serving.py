"""Retrain → promote → the running scoring job serves the new version (real Kafka, PyFlink,
Redis/Feast, ONNX): the loop's last step, end to end. The registry, the training log and the
job's topics are this test's own; the current model at start is one trained on shuffled labels,
so the retrained one beats it and ``adstream model retrain`` promotes it."""
from __future__ import annotations

import time

import numpy as np
import pytest

from models.pipeline import run_train
from models.registry import Registry
from models.retrain import run_retrain
from tests.integration.test_retrain import SMALL, _rows, _window
from tests.support import scoring_support as S
from tests.support.model_fixtures import live_dataset
from udfs import config
from udfs.io.training_log_store import TrainingLogWriter

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def test_a_retrained_model_is_served_within_the_reload_interval(stack, tmp_path):
    from jobs.scoring import start
    registry = tmp_path / "models"
    extra = {**SMALL, "feedback.training_log": tmp_path / "training_log", "paths.retrain_runs": tmp_path / "runs",
             "scoring_job.profile_timeout_ms": 1000}
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat, **extra)
    gates = {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service}
    first = live_dataset(cfg, 1, imps=2000)
    first.y = np.random.default_rng(1).permutation(first.y)
    run_train(cfg, first, tmp_path / "first", progress=False)
    v0 = Registry(registry).add_and_promote(tmp_path / "first", **gates)[0].version
    users = [f"{tag}-u{i}" for i in range(5)]
    S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})

    client, c = start(cfg), S.Client(cfg)
    try:
        c.send(S.request("before", users[0]))
        assert c.wait(lambda c: "before" in c.by_id(), 120)
        assert c.by_id()["before"].model_version == v0

        ds = live_dataset(cfg, 2, imps=3000)
        TrainingLogWriter(cfg.feedback.training_log_uri).write(_rows(ds, "a", 0), "a")
        rep = run_retrain(cfg, _window(ds, 0), tmp_path / "runs" / "a")
        assert rep["status"] == "promoted", rep["reason"]
        promoted, new = time.monotonic(), rep["candidate"]["registry_version"]
        assert Registry(registry).current() == new != v0

        served_at = None
        for i in range(100):   # one request every 100 ms until an answer names the new version
            c.send(S.request(f"after-{i}", users[i % 5]))
            assert c.wait(lambda c: f"after-{i}" in c.by_id(), 30)
            if c.by_id()[f"after-{i}"].model_version == new:
                served_at = time.monotonic()
                break
            time.sleep(0.1)
        assert served_at is not None, "the promoted model was never served"
        # model_poll_ms is 200 in the test config: a margin for the load and the answer's trip
        assert served_at - promoted < cfg.scoring_job.model_poll_ms / 1000 + 5.0
        assert not c.by_id()[f"after-{i}"].fallback
    finally:
        client.cancel().result()
        c.close()
