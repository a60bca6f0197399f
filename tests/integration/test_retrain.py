"""`adstream model retrain` on a real registry and a real training-log store (tmp folders; no Kafka).

The log is written with the store's own writer (udfs/io/training_log_store.TrainingLogWriter)
from rows of the test world's click model (tests/support/model_fixtures.tiny_world: users click
ads of the category they browse at 0.35, others at 0.04), features as the scorer computed them.
The current model starts as one trained on shuffled labels (no signal); then:
(a) a candidate trained on informative rows beats it on the newest rows and ``current`` moves;
(b) a candidate trained on shuffled labels (the newest block keeps its true labels, so the
    comparison is honest) is refused by the log-loss gate: registered, ``current`` unchanged;
    a dry run says the same and registers nothing;
(c) a window with too few rows is skipped, exit code 0.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.datasets import logged
from models.pipeline import run_train
from models.registry import Registry
from models.retrain import run_retrain
from models.retrain_window import Window, iso
from scripts import cli
from tests.support.model_fixtures import live_dataset
from udfs import config
from udfs.core.features import feature_set_id
from udfs.io.training_log_store import TrainingLogWriter
from udfs.messages import TrainingRow
from udfs.messages.base import replace
from udfs.messages.examples import EXAMPLES

pytestmark = pytest.mark.integration

DAY = 86_400_000
SMALL = {"model.max_rounds": 30, "model.budget": 2, "model.cv_folds": 2, "model.early_stopping_rounds": 5,
         "model.retrain_min_rows": 1000, "model.retrain_min_clicks": 40}


def _sets(tmp) -> list[str]:
    return [f"{k}={v}" for k, v in {**SMALL, "paths.model_registry": tmp / "reg", "paths.retrain_runs": tmp / "runs",
                                    "feedback.training_log": tmp / "training_log"}.items()]


def _rows(ds, tag: str, shift_ms: int, y=None, feature_set=None) -> list[TrainingRow]:
    """One training-log row per impression of ``ds``: its features as scored, its click."""
    fs = feature_set or feature_set_id(ds.features)
    X, y = ds.X.to_numpy(np.float32), ds.y if y is None else y
    return [replace(EXAMPLES[TrainingRow], impression_id=f"{tag}-{i}", request_id=f"{tag}-r{i}",
                    ts=int(ds.ts[i]) + shift_ms, labelled_ts=int(ds.ts[i]) + shift_ms + 1_800_000,
                    rank=1 + i % 3, model_version="v-old", feature_set=fs, features=tuple(X[i].tolist()),
                    clicked=bool(y[i]), conversions=0, conversion_value=0.0, revision=0, pctr=0.05)
            for i in range(len(X))]


def _window(ds, shift_ms: int) -> Window:
    return Window(int(ds.ts.min()) + shift_ms, int(ds.ts.max()) + shift_ms + 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retrain")
    cfg = config.load("test", overrides=_sets(tmp))
    reg = Registry(cfg.path("model_registry"))
    gates = {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service}
    # The current model: the live features, trained on shuffled labels (it knows the CTR, nothing else).
    first = live_dataset(cfg, 1, imps=2000)
    first.y = np.random.default_rng(1).permutation(first.y)
    run_train(cfg, first, tmp / "first", progress=False)
    v0, _ = reg.add_and_promote(tmp / "first", **gates)
    return cfg, reg, tmp, v0.version


def test_an_informative_candidate_is_promoted_and_current_moves(world):
    cfg, reg, tmp, v0 = world
    ds = live_dataset(cfg, 2, imps=3000)
    rows = _rows(ds, "a", 0)
    odd = _rows(ds, "odd", 0, feature_set=feature_set_id(ds.features[::-1]))[:40]   # another feature order
    fallback = [replace(r, impression_id=f"fb-{i}", feature_set="", features=()) for i, r in enumerate(rows[:25])]
    TrainingLogWriter(cfg.feedback.training_log_uri).write(rows + odd + fallback, "a")
    rep = run_retrain(cfg, _window(ds, 0), tmp / "runs" / "a")
    assert rep["status"] == "promoted", rep["reason"]
    assert rep["rows"] == {"in_window": 3065, "used": 3000,
                           "dropped": {logged.NO_FEATURES: 25, f"another feature order ({odd[0].feature_set})": 40}}
    assert rep["clicks"] == int(ds.y.sum()) and rep["current"] == v0
    h = rep["holdout"]
    assert h["rows"] == rep["checks"]["rows"] > 300 and h["candidate"]["logloss"] < h["current"]["logloss"]
    assert h["candidate"]["auc"] > h["current"]["auc"] + 0.05     # the world's signal, learnt
    assert reg.current() == rep["candidate"]["registry_version"] != v0
    assert json.loads((tmp / "runs" / "a" / "retrain.json").read_text())["status"] == "promoted"


def test_a_candidate_worse_than_current_is_refused_registered_and_current_stays(world, capsys):
    cfg, reg, tmp, v0 = world
    if reg.current() == v0:
        pytest.skip("needs the promoted model of the test before")
    good, shift = reg.current(), 5 * DAY
    ds = live_dataset(cfg, 3, imps=3000)
    order = np.argsort(ds.ts, kind="stable")
    y = ds.y.copy()
    old = order[: int(len(y) * 0.85)]          # train + validation blocks: labels shuffled
    y[old] = np.random.default_rng(3).permutation(y[old])
    TrainingLogWriter(cfg.feedback.training_log_uri).write(_rows(ds, "b", shift, y=y), "b")
    w = _window(ds, shift)
    n_versions = len(reg.versions())
    # the command, as a user runs it: a dry run first
    code = cli.main(["--env", "test", *sum((["--set", s] for s in _sets(tmp)), []), "model", "retrain",
                     "--since", iso(w.since_ms), "--until", iso(w.until_ms + 1000), "--dry-run",
                     "--out", str(tmp / "runs" / "dry")])
    out = capsys.readouterr().out
    assert code == 0 and '"status": "dry-run", "decision": "refuse"' in out and "log loss" in out
    assert len(reg.versions()) == n_versions and reg.current() == good
    rep = run_retrain(cfg, w, tmp / "runs" / "b")
    assert rep["status"] == "refused" and "is not below current" in rep["reason"]
    h = rep["holdout"]
    assert h["candidate"]["logloss"] > h["current"]["logloss"] and h["rows"] > 300
    assert h["candidate_minus_current"]["logloss"]["diff"] > 0
    assert reg.current() == good and len(reg.versions()) == n_versions + 1
    assert reg.get(rep["candidate"]["registry_version"]).version != good


def test_too_few_rows_in_the_window_is_skipped_with_exit_code_0(world, capsys):
    cfg, reg, tmp, _ = world
    ds = live_dataset(cfg, 4, imps=300)
    shift = 10 * DAY
    TrainingLogWriter(cfg.feedback.training_log_uri).write(_rows(ds, "c", shift), "c")
    w = _window(ds, shift)
    current, n_versions = reg.current(), len(reg.versions())
    code = cli.main(["--env", "test", *sum((["--set", s] for s in _sets(tmp)), []), "model", "retrain",
                     "--since", "4d", "--now", iso(w.until_ms + 1000), "--out", str(tmp / "runs" / "c")])
    out = capsys.readouterr().out
    assert code == 0 and '"status": "skipped"' in out and "retrain_min_rows" in out
    (report,) = (tmp / "runs" / "c").glob("*/retrain.json")
    rep = json.loads(report.read_text())
    assert rep["rows"]["used"] == 300 and "candidate" not in rep and "nothing trained" in rep["reason"]
    assert reg.current() == current and len(reg.versions()) == n_versions
