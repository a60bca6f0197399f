"""Registry: versions, the atomic ``current`` pointer, promotion gates, rollback, and the CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models import export
from models.pipeline import run_train
from models.registry import Registry, check_features, feature_mismatch
from models.scorer import load_current
from scripts import cli
from tests.unit.model_fixtures import live_dataset, model_config, tabular_dataset, tabular_frame
from udfs.errors import ModelError

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two live models (a good one, and a deliberately weak one) and one tabular model."""
    cfg = model_config()
    base = tmp_path_factory.mktemp("runs")
    ds = live_dataset(cfg, 11)
    run_train(cfg, ds, base / "good", budget=2, progress=False)
    # Same features and holdout, but trained on coin flips: a model that should never replace it.
    X = ds.X.to_numpy(np.float32)
    noise = np.random.default_rng(0).integers(0, 2, len(X))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=noise), 5)
    hold = pd.read_parquet(base / "good" / "holdout.parquet")
    export.export(base / "weak", booster, hold[ds.features].to_numpy(np.float32), names=ds.features,
                  live_windows=tuple(cfg.profile.windows.count_windows_s),
                  feature_service=cfg.feast.feature_service, fingerprint="f" * 64, dataset="noise",
                  metrics={}, calibration={"method": "none", "shift": 0.0}, params={})
    hold.to_parquet(base / "weak" / "holdout.parquet")
    run_train(cfg, tabular_dataset(), base / "tab", budget=1, progress=False)
    return cfg, base


def _gates(cfg):
    return {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service}


def test_promote_rollback_and_pointer(runs, tmp_path):
    cfg, base = runs
    reg = Registry(tmp_path / "reg")
    v1 = reg.add(base / "good")
    v2 = reg.add(base / "good")
    assert v1.version.startswith("v0001-") and v2.version.startswith("v0002-")
    assert reg.current() is None
    reg.promote(v1.version, **_gates(cfg))
    assert reg.current() == v1.version and load_current(reg.root).version == v1.version
    reg.promote("v0002", **_gates(cfg))  # same model again: AUC equal, allowed
    ptr = json.loads((reg.root / "current").read_text())
    assert ptr["version"] == v2.version and ptr["previous"] == [v1.version]
    assert reg.rollback(**_gates(cfg))["version"] == v1.version
    with pytest.raises(ModelError, match="nothing to roll back"):
        reg.rollback(**_gates(cfg))
    assert [h["action"] for h in reg.history()] == ["promote", "promote", "rollback"]
    assert not list(reg.root.glob(".*.tmp*"))


def test_registry_refuses_mismatched_signature(runs, tmp_path):
    cfg, base = runs
    reg = Registry(tmp_path / "reg")
    tab = reg.add(base / "tab")
    assert feature_mismatch(tab.signature, **{"windows_s": cfg.profile.windows.count_windows_s,
                                              "feature_service": cfg.feast.feature_service})
    with pytest.raises(ModelError, match="refusing to promote"):
        reg.promote(tab.version, **_gates(cfg))
    assert reg.current() is None
    # A live model's signature whose feature order was changed is refused too.
    good = reg.add(base / "good")
    check_features(good.signature, cfg)
    bad = dict(good.signature, features=list(reversed(good.signature["features"])))
    with pytest.raises(ModelError, match="differ"):
        check_features(bad, cfg)
    assert feature_mismatch(dict(good.signature, feature_service="other"), **_gates(cfg))
    # A human may override; the history says so.
    reg.promote(tab.version, force=True, reason="evaluation only", **_gates(cfg))
    assert reg.history()[-1]["forced"] is True


def test_registry_refuses_lower_holdout_auc(runs, tmp_path):
    cfg, base = runs
    reg = Registry(tmp_path / "reg")
    good, weak = reg.add(base / "good"), reg.add(base / "weak")
    reg.promote(good.version, **_gates(cfg))
    with pytest.raises(ModelError, match="holdout AUC"):
        reg.promote(weak.version, **_gates(cfg))
    assert reg.current() == good.version
    ptr = reg.promote(weak.version, force=True, reason="test", **_gates(cfg))
    assert ptr["checks"]["worse"] is True


def test_cli_train_promote_list_rollback(runs, tmp_path, capsys):
    cfg, base = runs
    data = tmp_path / "log.csv"
    tabular_frame(n=600).to_csv(data, index=False)
    sets = ["--env", "test", "--set", f"paths.model_registry={tmp_path / 'reg'}",
            "--set", "model.max_rounds=20", "--set", "model.cv_folds=2"]
    rc = cli.main(sets + ["model", "train", "--format", "csv", "--data", str(data), "--label", "click",
                          "--time", "ts", "--numeric", "x,noise", "--categorical", "site",
                          "--out", str(tmp_path / "csvrun"), "--budget", "2", "--no-progress"])
    assert rc == 0
    rep = json.loads((tmp_path / "csvrun" / "report.json").read_text())
    assert rep["n_train"] > 0 and "lr" in rep["baselines"]
    shutil.copytree(base / "good", tmp_path / "good")
    assert cli.main(sets + ["model", "promote", str(tmp_path / "good")]) == 0
    assert cli.main(sets + ["model", "promote", str(tmp_path / "csvrun")]) == 2  # features mismatch
    assert cli.main(sets + ["model", "list"]) == 0
    out = capsys.readouterr().out
    assert "* v0001-" in out and "refusing" not in out
    assert cli.main(sets + ["model", "rollback"]) == 2  # nothing earlier


def test_model_help_explains():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["model", "train", "--help"])
