"""scripts/bench_decode.py on a tiny budget: it runs, and its JSON has the documented figures.

The figures themselves are measurements (docs/benchmarks.md), never asserted; what is
checked is that every format and candidate got a number, and that the equivalence check
counts what it compares (and can see a difference: the libraries alone disagree).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from udfs.messages import ENVELOPED

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_decode.py"
CANDIDATES = ("today", "today_generic", "msgspec", "pydantic", "msgspec_bare", "pydantic_bare", "json_loads")


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench_decode.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--duration", "0.2", "--records", "40", "--per-fault", "2",
                          "--fuzz", "40", "--batch", "60", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[bench_decode] [16/16]" in run.stderr          # the progress lines
    return json.loads(out.read_text())


def test_help_explains_the_options():
    run = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    for word in ("--duration", "--out", "--fuzz", "msgspec", "pydantic", "JSON keys"):
        assert word in run.stdout


def test_every_format_has_figures_for_every_candidate(figures):
    assert set(figures["formats"]) == {cls.SCHEMA for cls in ENVELOPED}
    for schema, f in figures["formats"].items():
        assert f["records"]["valid"] > 0 and f["records"]["invalid"] > 0, schema
        for corpus in ("valid", "invalid"):
            for cand in CANDIDATES:
                row = f[corpus][cand]
                assert row["median_us"] > 0 and row["p99_us"] >= row["median_us"], (schema, corpus, cand)
                assert row["ratio_to_today"] > 0
                assert row["rounds"] >= 2 and row["samples"] == row["rounds"] * f["records"][corpus]
        assert set(f["invalid_by_fault"]["today"]) >= {"wrong_type", "missing_field", "future_ts", "deep_nesting"}
    assert figures["formats"]["clickstream"]["compiled_fast_path"] is True
    assert figures["formats"]["ad_request"]["compiled_fast_path"] is False


def test_the_equivalence_check_reports_its_counts(figures):
    eq = figures["equivalence"]
    assert set(eq) == {"today_generic", "msgspec", "pydantic", "msgspec_bare", "pydantic_bare"}
    for name, e in eq.items():
        assert e["inputs"] > 0 and e["agree"] + e["disagree"] == e["inputs"], name
        assert sum(c["count"] for c in e["classes"]) == e["disagree"], name
        assert sum(e["disagree_by_source"].values()) == e["disagree"], name
        assert sum(c["count"] for c in e["field_classes"]) == e["both_reject_other_field"], name
        by_fault = e["both_reject_other_field_by_fault"]
        assert all(by_fault[f] <= e["both_reject_by_fault"][f] for f in by_fault), name
        for c in e["classes"] + e["field_classes"]:
            assert {"format", "input", "today", "candidate"} <= set(c["example"])
    # The libraries alone accept what today refuses (the ts window at least): the check can see it.
    assert eq["msgspec_bare"]["disagree"] > 0 and eq["pydantic_bare"]["disagree"] > 0
    assert eq["today_generic"]["disagree"] == 0     # the compiled path's own promise


def test_error_texts_and_the_profile_step(figures):
    rows = figures["errors_side_by_side"]
    assert {r["format"] for r in rows} == {"clickstream", "ad_request", "ranked_ads"}
    assert all(r["today"] and r["msgspec"] and r["pydantic"] for r in rows)
    prof = figures["profile_process"]
    assert prof["batch"] > 0
    assert set(prof["per_event_us"]) == {"today", "today_generic", "msgspec", "pydantic", "no_decode"}
    assert all(v["median"] > 0 for v in prof["per_event_us"].values())
    assert set(prof["counts_match"]) == set(prof["ratio_to_today"]) == set(prof["decode_share_us"]) \
        == set(prof["per_event_us"])
    assert prof["ratio_to_today"]["today"] == 1.0 and prof["decode_share_us"]["no_decode"] == 0.0
    assert figures["versions"]["msgspec"] and figures["machine"]["cpus"]
