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
from scripts import cli
from tests.support.model_fixtures import live_dataset, model_config, tabular_dataset, tabular_frame
from udfs.errors import ModelError
from udfs.io.onnx_scorer import load_current

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


# ------------------------------------------------------------------ a model that does not load

def _broken_copy(src, dst, how: str):
    """``src`` copied to ``dst`` with its model really broken (bytes on disk, not a mock)."""
    shutil.copytree(src, dst)
    onnx = dst / "model.onnx"
    if how == "truncated":
        onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    elif how == "garbage":
        onnx.write_bytes(bytes(range(256)) * 64)
    elif how == "signature":   # one feature fewer than the graph takes
        sig = json.loads((dst / "signature.json").read_text())
        sig["features"] = sig["features"][:-1]
        (dst / "signature.json").write_text(json.dumps(sig))
    elif how == "output":      # loads, but its signature names an output the graph lacks: fails at run
        sig = json.loads((dst / "signature.json").read_text())
        sig["format"]["output"] = "no_such_output[:, 1]"
        (dst / "signature.json").write_text(json.dumps(sig))
    return dst


def _leftovers(reg):
    return sorted(p.name for p in reg.root.iterdir() if p.name not in (".lock",)) if reg.root.exists() else []


@pytest.mark.parametrize("how", ["truncated", "garbage", "signature", "output"])
def test_a_model_that_does_not_load_is_never_registered(runs, tmp_path, how):
    from models.registry import load_problems
    cfg, base = runs
    bad = _broken_copy(base / "good", tmp_path / "bad", how)
    assert load_problems(base / "good") == [] and load_problems(bad)
    reg = Registry(tmp_path / "reg")
    with pytest.raises(ModelError, match="does not load"):
        reg.add(bad)
    with pytest.raises(ModelError, match="does not load"):
        reg.add_and_promote(bad, force=True, **_gates(cfg))
    assert _leftovers(reg) == [] and reg.versions() == [] and reg.current() is None


@pytest.mark.parametrize("how", ["truncated", "garbage", "signature", "output"])
def test_a_registered_model_that_broke_is_not_promotable_even_forced(runs, tmp_path, how):
    cfg, base = runs
    reg = Registry(tmp_path / "reg")
    good, other = reg.add(base / "good"), reg.add(base / "good")
    reg.promote(good.version, **_gates(cfg))
    reg.promote(other.version, **_gates(cfg))
    shutil.rmtree(good.path)
    _broken_copy(base / "good", good.path, how)   # the file on disk went bad after registration
    with pytest.raises(ModelError, match="not overridable"):
        reg.rollback(force=True, **_gates(cfg))
    third = reg.add(base / "good")
    shutil.rmtree(third.path)
    _broken_copy(base / "good", third.path, how)
    with pytest.raises(ModelError, match="not overridable"):
        reg.promote(third.version, force=True, reason="please", **_gates(cfg))
    assert reg.current() == other.version and [h["action"] for h in reg.history()] == ["promote", "promote"]


def test_a_refused_promote_of_a_folder_leaves_nothing_registered(runs, tmp_path):
    cfg, base = runs
    reg = Registry(tmp_path / "reg")
    with pytest.raises(ModelError, match="refusing to promote"):
        reg.add_and_promote(base / "tab", **_gates(cfg))            # features the live service lacks
    assert _leftovers(reg) == []
    v, ptr = reg.add_and_promote(base / "good", **_gates(cfg))
    assert reg.current() == v.version == ptr["version"]
    with pytest.raises(ModelError, match="holdout AUC"):
        reg.add_and_promote(base / "weak", **_gates(cfg))           # worse on the same holdout
    assert [x.version for x in reg.versions()] == [v.version] and _leftovers(reg) == \
        sorted(["current", "history.jsonl", v.version])
    v2, _ = reg.add_and_promote(base / "weak", force=True, reason="test", **_gates(cfg))
    assert v2.version.startswith("v0002-") and reg.current() == v2.version


def test_cli_refused_promote_and_list_of_broken_versions(runs, tmp_path, capsys):
    cfg, base = runs
    sets = ["--env", "test", "--set", f"paths.model_registry={tmp_path / 'reg'}"]
    bad = _broken_copy(base / "good", tmp_path / "bad", "truncated")
    assert cli.main(sets + ["model", "promote", str(bad), "--force"]) == 2
    assert "not overridable" in capsys.readouterr().err
    assert cli.main(sets + ["model", "promote", str(base / "tab")]) == 2   # refused: not registered either
    reg = Registry(tmp_path / "reg")
    assert reg.versions() == []
    assert cli.main(sets + ["model", "promote", str(base / "good")]) == 0
    good, later, unreadable = reg.versions()[0], reg.add(base / "good"), reg.add(base / "good")
    (later.path / "model.onnx").write_bytes(b"\x08\x01garbage" * 100)     # broke after registration
    (unreadable.path / "signature.json").write_text("{not json")
    capsys.readouterr()
    assert cli.main(sets + ["model", "list", "--json"]) == 0
    rows = {r["version"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[good.version]["servable"] is True and rows[good.version]["current"] is True
    assert rows[later.version]["servable"] is False and rows[unreadable.version]["servable"] is False


@pytest.mark.parametrize("change", [{"training_data_fingerprint": "not-hex!"}, {"training_data_fingerprint": None},
                                    "unreadable"])
def test_a_signature_the_registry_cannot_name_is_refused_cleanly(runs, tmp_path, change):
    cfg, base = runs
    src = shutil.copytree(base / "good", tmp_path / "src")
    if change == "unreadable":
        (src / "signature.json").write_text("{trunc")
    else:
        sig = json.loads((src / "signature.json").read_text())
        (src / "signature.json").write_text(json.dumps(sig | change))
    reg = Registry(tmp_path / "reg")
    with pytest.raises(ModelError, match="signature|fingerprint"):
        reg.add(src)
    assert _leftovers(reg) == []
