"""Retraining's pure parts: the window and duration parsing, the skip rule, the gate's decision,
the feature-order filter, inverse-propensity resampling and the logged rows as a Dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.datasets import logged
from models.registry import gate_refusals
from models.retrain import decide, shortfall
from models.retrain_window import Window, iso, parse_duration, parse_instant, window
from scripts import cli

pytestmark = pytest.mark.unit

NOW = parse_instant("2026-12-03T12:00:00Z", 0)
H = 3_600_000


@pytest.mark.parametrize("text, ms", [("90s", 90_000), ("30m", 1_800_000), ("6h", 6 * H), (" 2d ", 48 * H),
                                      ("1.5h", 5_400_000), ("1w", 168 * H)])
def test_durations_parse_to_milliseconds(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["6", "h", "6x", "-1h", "6 hours", "", "1h30m", "0m"])
def test_a_bad_duration_is_refused_saying_what_a_good_one_looks_like(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_instants_are_durations_before_now_or_iso_times_in_utc_by_default():
    assert parse_instant("6h", NOW) == NOW - 6 * H
    assert parse_instant("2026-12-03T06:00Z", NOW) == NOW - 6 * H
    assert parse_instant("2026-12-03T06:00", NOW) == NOW - 6 * H           # no zone: UTC
    assert parse_instant("2026-12-03T07:00+01:00", NOW) == NOW - 6 * H
    with pytest.raises(ValueError, match="neither a duration .* nor an ISO-8601 time"):
        parse_instant("yesterday", NOW)


def test_the_window_is_half_open_ends_now_by_default_and_must_not_be_empty():
    w = window("6h", None, NOW)
    assert w == Window(NOW - 6 * H, NOW)
    assert w.contains([NOW - 6 * H - 1, NOW - 6 * H, NOW - 1, NOW]).tolist() == [False, True, True, False]
    assert window("2d", "1d", NOW) == Window(NOW - 48 * H, NOW - 24 * H)
    assert w.to_dict()["since"] == "2026-12-03T06:00:00Z" and w.to_dict()["hours"] == 6.0
    with pytest.raises(ValueError, match="empty window"):
        window("1h", "2h", NOW)
    assert iso(NOW) == "2026-12-03T12:00:00Z"


def test_the_command_refuses_bad_durations_before_doing_anything(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["model", "retrain", "--since", "6h", "--every", "soon"])
    assert e.value.code == 2 and "'soon' is not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["model", "retrain", "--since", "6 hours"])
    assert "neither a duration" in capsys.readouterr().err


def test_too_few_rows_or_clicks_skip_and_say_which_threshold():
    assert "retrain_min_rows" in shortfall(999, 500, 1000, 10)
    assert "retrain_min_clicks" in shortfall(5000, 9, 1000, 10)
    assert shortfall(1000, 10, 1000, 10) is None


CMP = {"holdout": "candidate's", "rows": 500, "clicks": 40, "candidate_auc": 0.75, "current_auc": 0.74,
       "candidate_logloss": 0.20, "current_logloss": 0.21}


def test_the_gate_promotes_only_a_lower_log_loss_without_an_auc_loss_beyond_the_tolerance():
    gate = dict(auc_tolerance=0.0, require_lower_logloss=True)
    assert gate_refusals(CMP, **gate) == []
    (why,) = gate_refusals({**CMP, "candidate_logloss": 0.22}, **gate)
    assert "log loss 0.22000 is not below current 0.21000" in why
    assert gate_refusals({**CMP, "candidate_logloss": 0.21}, **gate)            # equal is not better
    (why,) = gate_refusals({**CMP, "candidate_auc": 0.73}, **gate)               # better log loss, worse AUC
    assert "holdout AUC 0.7300 < current 0.7400" in why
    assert gate_refusals({**CMP, "candidate_auc": 0.73}, auc_tolerance=0.02, require_lower_logloss=True) == []
    assert len(gate_refusals({**CMP, "candidate_auc": 0.5, "candidate_logloss": 0.3}, **gate)) == 2
    # a one-class holdout has no AUC: log loss alone decides
    assert gate_refusals({**CMP, "candidate_auc": float("nan"), "current_auc": float("nan")}, **gate) == []


def test_the_promote_command_keeps_its_auc_only_gate_and_retraining_needs_a_comparison():
    worse_loss = {**CMP, "candidate_logloss": 0.5}
    assert gate_refusals(worse_loss) == []                                       # `model promote`: AUC only
    assert gate_refusals({"holdout": "unavailable"}) == []
    (why,) = gate_refusals({"holdout": "unavailable"}, require_lower_logloss=True)
    assert "not compared" in why and "unavailable" in why


def test_the_decision_names_status_and_reason():
    assert decide([], dry_run=False, has_current=True)[:2] == ("promoted", "promote")
    assert decide(["log loss worse"], dry_run=False, has_current=True) == ("refused", "refuse", "log loss worse")
    assert decide(["x"], dry_run=True, has_current=True)[:2] == ("dry-run", "refuse")
    assert "no current model" in decide([], dry_run=False, has_current=False)[2]


def _log(sets: list[str], n_feat: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "impression_id": [f"im{i}" for i in range(len(sets))], "ts": 1_000 + 10 * np.arange(len(sets))[::-1],
        "feature_set": sets, "features": [rng.random(n_feat).astype(np.float32) if s else [] for s in sets],
        "clicked": rng.integers(0, 2, len(sets)), "conversions": 0, "rank": 1, "model_version": "v1",
        "creative_id": "cr1"})


def test_rows_of_another_feature_order_or_without_features_are_dropped_and_counted():
    df = _log(["fsA", "fsA", "", "fsB", "fsA", "fsB"])
    kept, dropped = logged.by_feature_set(df, "fsA")
    assert kept["impression_id"].tolist() == ["im0", "im1", "im4"]
    assert dropped == {logged.NO_FEATURES: 1, "another feature order (fsB)": 2}


def test_the_dataset_holds_the_logged_rows_exactly_in_time_order_and_unweighted():
    df = _log(["fsA"] * 5)
    ds = logged.logged_dataset(df, ["a", "b", "c"], live=False, ips_clip=10.0)
    assert ds.features == ["a", "b", "c"] and list(ds.ts) == sorted(df["ts"])
    first = df.sort_values("ts").iloc[0]
    assert ds.X.iloc[0].to_numpy(np.float32).tobytes() == np.asarray(first["features"], np.float32).tobytes()
    assert ds.y.tolist() == df.sort_values("ts")["clicked"].tolist()
    assert ds.meta["weights"]["weighted"] is False and "no propensity" in ds.meta["weights"]["why"]
    with pytest.raises(ValueError, match="3 features"):
        logged.logged_dataset(df, ["a", "b"], live=False, ips_clip=10.0)


def test_inverse_propensity_resampling_favours_rarely_shown_rows_up_to_the_clip():
    p = np.array([0.5] * 500 + [0.05] * 500 + [0.001] * 10)
    idx, info = logged.ips_resample(p, clip=20.0, seed=3)
    assert len(idx) == len(p) and np.all(np.diff(idx) >= 0)
    share_rare = np.isin(idx, np.arange(500, 1000)).mean()
    # weights 2 : 20 : 20 (clipped from 1000): the 0.05 rows are ~10/11.1 of 1,000 expected draws
    assert 0.86 < share_rare < 0.94
    assert info["clipped_rows"] == 10 and info["weight_max"] == 20.0
    assert info["effective_rows"] < len(p)
    for bad in ([0.5, 0.0], [0.5, np.nan], [1.5], []):
        with pytest.raises(ValueError, match="propensity"):
            logged.ips_resample(np.array(bad), clip=20.0, seed=0)


def test_a_propensity_column_turns_weighting_on():
    df = _log(["fsA"] * 6).assign(propensity=[0.9, 0.9, 0.9, 0.9, 0.9, 0.01])
    ds = logged.logged_dataset(df, ["a", "b", "c"], live=False, ips_clip=50.0, seed=1)
    assert ds.meta["weights"]["weighted"] is True and len(ds.X) == 6
    assert list(ds.ts) == sorted(ds.ts)


def test_every_repeats_reports_a_failed_run_and_stops_cleanly_on_ctrl_c(monkeypatch, capsys):
    from models import retrain_cli
    runs, sleeps = [], []

    def once(cfg, args):
        runs.append(args.since)
        if len(runs) == 2:
            raise retrain_cli.ModelError("store unreadable")
        return {}

    def sleep(s):
        sleeps.append(s)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(retrain_cli, "_once", once)
    monkeypatch.setattr(retrain_cli.time, "sleep", sleep)
    assert cli.main(["model", "retrain", "--since", "6h", "--every", "30m"]) == 0
    out, err = capsys.readouterr()
    assert len(runs) == 3 and sleeps == [1800.0] * 3
    assert '"status": "error", "reason": "store unreadable"' in out and "stopped after 3 run(s)" in err
