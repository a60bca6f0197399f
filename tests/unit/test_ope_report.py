"""``adstream model ope`` end to end: on a slice of the Open Bandit log (skipped when the shared
folder is absent) and on a small log in its format written here, so the command is always tried.

The checks are the report's invariants: every interval holds its estimate, no effective sample
size exceeds the rows, the logged CTR is the mean click of the newest rows (the evaluation
part), the policy's weights are those of a deterministic policy over a uniform log.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from models.ope_report import locate
from scripts.cli import main
from tests.support.shared_data import shared_dataset
from udfs import config
from udfs.errors import ModelError

pytestmark = pytest.mark.unit


def run(tmp_path, data: str, *sets: str) -> dict:
    out = tmp_path / "ope.json"
    rc = main(["--env", "test", *[a for s in sets for a in ("--set", s)],
               "model", "ope", "--data", data, "--campaign", "men", "--out", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def check_invariants(rep: dict, log: pd.DataFrame, eval_fraction: float = 0.5) -> None:
    n_eval = int(round(len(log) * eval_fraction))
    newest = log.assign(t=pd.to_datetime(log["timestamp"], utc=True, format="mixed")) \
        .sort_values("t", kind="stable").iloc[len(log) - n_eval:]
    assert rep["rows"] == n_eval == rep["logged"]["rows"]
    assert rep["logged"]["ctr"] == pytest.approx(newest["click"].mean())
    assert rep["logged"]["clicks"] == int(newest["click"].sum())
    lo, hi = rep["logged"]["ci"]
    assert lo <= rep["logged"]["ctr"] <= hi and lo < hi
    pol = rep["policy"]
    for k in ("ips", "snips", "dr"):
        e = pol[k]
        assert set(e) >= {"value", "ci", "ess"}
        assert e["ci"][0] <= e["value"] <= e["ci"][1], (k, e)
        assert 0 < e["ess"] <= rep["rows"] + 1e-9
    # deterministic policy on a uniform log: weight 1/p on the agreeing rows, so ESS = their count
    assert pol["ips"]["ess"] == pytest.approx(pol["agrees_with_log"])
    assert pol["ips"]["max_weight"] == pytest.approx(min(rep["actions"], rep["max_weight"] or np.inf))
    assert pol["ips"]["value"] >= 0 and 0 <= pol["snips"]["value"] <= 1
    assert rep["reward_model"]["kind"] == "logistic_regression"
    assert rep["reward_model"]["train_rows"] == len(log) - n_eval


def test_on_a_slice_of_open_bandit(tmp_path):
    src = shared_dataset("open_bandit_zozotown", "random", "men")
    folder = tmp_path / "obd" / "random" / "men"
    folder.mkdir(parents=True)
    log = pd.read_csv(src / "men.csv", index_col=0).iloc[:4000]
    log.to_csv(folder / "men.csv")
    shutil.copy(src / "item_context.csv", folder)
    rep = run(tmp_path, str(tmp_path / "obd"))
    check_invariants(rep, log)
    assert rep["actions"] == 34 and rep["data"] == str(folder / "men.csv")


def fake_log(folder, n=3000, k=5, seed=0) -> pd.DataFrame:
    """A uniform-random log in the Open Bandit layout; item 3 is clicked most, more so with affinity."""
    rng = np.random.default_rng(seed)
    item = rng.integers(0, k, n)
    aff = (rng.random((n, k)) < 0.1).astype(float)
    p = np.where(item == 3, 0.06, 0.02) * (1 + 3 * aff[np.arange(n), item])
    t = pd.Timestamp("2019-11-24", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 6 * 86400, n)), "s")
    df = pd.DataFrame({"timestamp": t.astype(str), "item_id": item, "position": rng.integers(1, 4, n),
                       "click": (rng.random(n) < p).astype(int), "propensity_score": 1 / k,
                       **{f"user_feature_{j}": rng.choice(["a", "b", "c"], n) for j in range(2)},
                       **{f"user-item_affinity_{a}": aff[:, a] for a in range(k)}})
    folder.mkdir(parents=True)
    df.to_csv(folder / "men.csv")
    pd.DataFrame({"item_id": range(k), "item_feature_0": rng.normal(size=k),
                  "item_feature_1": ["x", "y", "x", "z", "y"][:k]}).to_csv(folder / "item_context.csv")
    return df


def test_on_a_log_in_its_format(tmp_path):
    log = fake_log(tmp_path / "men")
    rep = run(tmp_path, str(tmp_path / "men"), "ope.confidence=0.9")
    check_invariants(rep, log)
    assert rep["confidence"] == 0.9 and rep["actions"] == 5
    # a signal the reward model can learn: the policy mostly shows item 3 and beats random
    assert rep["policy"]["dr"]["value"] > rep["logged"]["ctr"]


def test_clipping_from_config_reaches_the_estimates(tmp_path):
    log = fake_log(tmp_path / "men")
    rep = run(tmp_path, str(tmp_path / "men"), "ope.max_weight=2", "ope.eval_fraction=0.4")
    check_invariants(rep, log, eval_fraction=0.4)
    for k in ("ips", "snips", "dr"):
        assert rep["policy"][k]["max_weight"] == 2 and rep["policy"][k]["clipped"] == rep["policy"]["agrees_with_log"]


def test_absent_data_says_where_it_looked_and_what_to_do(tmp_path):
    cfg = config.load("test", overrides=[f"ope.openbandit_dir={tmp_path / 'nowhere'}"])
    with pytest.raises(ModelError) as e:
        locate(cfg, "openbandit", "men")
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "absent" in msg and "zr-obp" in msg and "--data" in msg
    fake_log(tmp_path / "root" / "random" / "men")
    with pytest.raises(ModelError, match=r"women/women.csv.*found: random/men.*--campaign"):
        locate(cfg, str(tmp_path / "root"), "women")
    assert locate(cfg, str(tmp_path / "root"), "men") == tmp_path / "root" / "random" / "men"


def test_a_log_without_clicks_to_learn_from_is_refused(tmp_path, capsys):
    log = fake_log(tmp_path / "men")
    log.assign(click=0).to_csv(tmp_path / "men" / "men.csv")
    assert main(["--env", "test", "model", "ope", "--data", str(tmp_path / "men"),
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "hold 0 clicks" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_a_log_without_propensities_is_refused(tmp_path, capsys):
    fake_log(tmp_path / "men")
    df = pd.read_csv(tmp_path / "men" / "men.csv", index_col=0).drop(columns="propensity_score")
    df.to_csv(tmp_path / "men" / "men.csv")
    assert main(["--env", "test", "model", "ope", "--data", str(tmp_path / "men"),
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "no propensity column" in capsys.readouterr().err
