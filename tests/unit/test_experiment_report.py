"""``adstream experiment report`` end to end without services: a training log written with the
store's own writer, an experiments file in tmp_path, the command's function, its JSON and page;
and how the rows are counted (window, labels, anonymous units, revenue by bid type, requests)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from models import experiment_report as R
from models.experiment_data import ServedRequest, collect
from scripts.cli import build_parser, experiment as cli
from tests.support.experiment_support import EXP, FILE, ROW, T, args, rows
from udfs import config
from udfs.errors import AdstreamError
from udfs.io.training_log_store import TrainingLogWriter, read, to_table
from udfs.messages.base import replace

pytestmark = pytest.mark.unit

def cfg_with(tmp_path, text=FILE):
    (tmp_path / "experiments.yaml").write_text(text)
    cfg = config.load("base")
    return dataclasses.replace(cfg, scoring_job=dataclasses.replace(
        cfg.scoring_job, experiments_file=str(tmp_path / "experiments.yaml")))


def test_the_command_reports_both_variants_a_real_lift_and_a_sound_sample_ratio(tmp_path, capsys):
    store = tmp_path / "tl"
    TrainingLogWriter(store.as_uri()).write(rows(), "p0-a")
    out = tmp_path / "report"
    assert cli._main(cfg_with(tmp_path), args(training_log=store.as_uri(), out=str(out))) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["experiment"] == "ctr-test" and set(rep["variants"]) == {"control", "boost"}
    for v in rep["variants"].values():
        assert v["users"] > 1000 and v["impressions"] > v["clicks"] > 0 and v["revenue"] > 0
        assert v["ctr"]["ci"][0] < v["ctr"]["value"] < v["ctr"]["ci"][1]
        assert set(v) >= {"users", "requests", "impressions", "clicks", "conversions", "revenue", "ctr", "cvr", "rpm"}
    (c,) = rep["comparisons"]
    assert (c["variant"], c["vs"]) == ("boost", "control")
    assert c["ctr_lift"]["ci"][0] > 0 and c["ctr_diff"]["p_value"] < 0.01
    assert c["always_valid"]["verdict"] == "treatment better" and c["always_valid"]["cs"][0] > 0
    assert c["always_valid"]["cs"][0] <= c["ctr_lift"]["value"] <= c["always_valid"]["cs"][1]
    assert rep["srm"]["ok"] and rep["srm"]["p_value"] > 0.001
    assert rep["requests_from"] == "impressions" and any("--served-log" in w for w in rep["warnings"])
    page = (out / "report.html").read_text()
    assert page.count("<img src=\"data:image/png;base64,") >= 2 and "confidence sequence" in page
    said = capsys.readouterr().out
    assert "TREATMENT BETTER" in said and "boost vs control" in said


def test_an_unknown_experiment_names_the_ones_the_file_defines(tmp_path):
    with pytest.raises(AdstreamError, match=r"no experiment 'nope' in .*experiments.yaml; the file defines: ctr-test"):
        cli._main(cfg_with(tmp_path), args(name="nope", training_log=(tmp_path / "tl").as_uri()))
    with pytest.raises(AdstreamError, match="UTC offset"):
        cli._main(cfg_with(tmp_path), args(as_of="2025-12-01T05:00:00"))


def test_the_subcommand_is_registered_and_explains_its_options(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiment", "report", "--help"])
    text = capsys.readouterr().out
    for opt in ("--training-log", "--served-log", "--out", "--alpha", "--as-of"):
        assert opt in text


def test_rows_outside_the_window_or_the_experiment_are_not_counted_and_revenue_follows_the_bid_type():
    r = [replace(ROW, impression_id="a", request_id="q1", user_id="u1", ts=T + 1, variant="ctr-test:control",
                 bid_type="CPM", clicked=True, conversions=2, charge=0.002),
         replace(ROW, impression_id="b", request_id="q1", user_id="u1", ts=T + 2, variant="ctr-test:control",
                 bid_type="CPC", clicked=True, conversions=2, charge=0.3),
         replace(ROW, impression_id="c", request_id="q2", user_id=None, ts=T + 3, variant="ctr-test:boost",
                 bid_type="CPA", clicked=True, conversions=2, charge=5.0),
         replace(ROW, impression_id="d", request_id="q3", user_id="u2", ts=T - 1, variant="ctr-test:boost"),
         replace(ROW, impression_id="e", request_id="q4", user_id="u3", ts=T + 4, variant="control")]
    rows_ = collect(to_table(r), EXP, EXP.stop_ms)
    tot = rows_.totals()
    assert tot["control"]["revenue"].tolist() == [pytest.approx(0.302)]   # CPM: the impression; CPC: the click
    assert tot["boost"]["revenue"].tolist() == [pytest.approx(10.0)]      # CPA: each conversion
    assert tot["control"]["requests"].tolist() == [1.0] and len(tot["boost"]["requests"]) == 1   # anonymous: per request
    assert rows_.notes["rows_in_experiment"] == 3
    assert collect(to_table(r), EXP, T + 2).totals()["control"]["impressions"].tolist() == [1.0]   # --as-of
    served = [ServedRequest("u1", "q1", T + 1, "ctr-test:control"), ServedRequest("u1", "q9", T + 5, "ctr-test:control"),
              ServedRequest("u1", "q9", T + 5, "ctr-test:control"), ServedRequest("u7", "q8", T + 6, "ctr-test:control"),
              ServedRequest("u8", "q7", T + 6, "other:control")]
    from_served = collect(to_table(r), EXP, EXP.stop_ms, served).totals()["control"]
    # u1 made two requests (one without impressions, re-delivered once); u7 was served but saw nothing
    assert sorted(from_served["requests"].tolist()) == [1.0, 2.0] and from_served["impressions"].sum() == 2


def test_a_skewed_split_warns_of_a_sample_ratio_mismatch(tmp_path):
    skewed = [r for r in rows(n_users=4000, lift=0.0) if not (r.variant.endswith("boost")
                                                               and int(r.user_id[1:]) % 5 == 0)]
    rep = R.build(to_table(skewed), EXP, config.load("base").experiment_report)
    assert not rep["srm"]["ok"] and any("sample ratio mismatch" in w for w in rep["warnings"])
    assert rep["comparisons"][0]["always_valid"]["verdict"] == "no decision yet"


def test_the_report_is_written_as_json_and_a_page_even_without_rows(tmp_path):
    rep = R.build(read((tmp_path / "none").as_uri()), EXP, config.load("base").experiment_report)
    js, page = R.write(rep, tmp_path / "out")
    back = json.loads(js.read_text())
    assert back["variants"]["control"]["users"] == 0 and back["srm"]["p_value"] is None
    assert back["comparisons"][0]["always_valid"]["verdict"] == "no decision yet"
    assert "No look had data" in page.read_text()
    assert any("has no users" in w for w in back["warnings"])
