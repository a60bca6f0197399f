"""The candidates on real logs (../shared/datasets; skipped when absent): never worse than LR."""
from __future__ import annotations

import pytest

from models.datasets.criteo import load_criteo
from models.pipeline import run_train
from tests.support.model_fixtures import model_config
from tests.support.shared_data import shared_dataset

pytestmark = [pytest.mark.unit, pytest.mark.slow]  # two real trainings, ~30-90 s


@pytest.mark.parametrize("parts", [("criteo_8k", "train.tsv"), ("criteo_sample", "train_head2k.csv")])
def test_shipped_model_is_the_best_on_validation_and_not_worse_than_lr(parts, tmp_path):
    ds = load_criteo(shared_dataset(*parts))
    cfg = model_config(max_rounds=400, early_stopping_rounds=30, cv_folds=3)
    rep = run_train(cfg, ds, tmp_path, budget=3, seed=7, progress=False)
    ok = {k: c for k, c in rep["candidates"].items() if c["exportable"]}
    assert rep["candidates"][rep["shipped"]]["valid_logloss"] == min(c["valid_logloss"] for c in ok.values())
    vs_lr = rep["baselines"]["lr"]["model_minus_this"]
    assert vs_lr["logloss"]["low"] < 0 < vs_lr["logloss"]["high"] or vs_lr["logloss"]["high"] < 0
    assert rep["auc"] >= rep["baselines"]["lr"]["auc"] - 0.02
    assert rep["calibration_check"]["ok"]
    # ECE within what a perfectly calibrated model shows on so few rows
    assert rep["ece"] <= rep["calibration_check"]["ece_noise_floor"]["q95"] + 0.01
