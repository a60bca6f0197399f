"""scripts/bench_decode.py on a tiny budget: it runs, and its JSON has the documented figures.

The figures themselves are measurements (docs/benchmarks.md), never asserted; what is
checked is that every format and candidate got a number, and that the equivalence check
counts what it compares (and can see a difference: msgspec alone disagrees).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench.decode_previous import compared
from udfs.messages import ENVELOPED as ALL_ENVELOPED

ENVELOPED = compared(ALL_ENVELOPED)   # the formats the previous decoder had (a newer one is left out)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_decode.py"
CANDIDATES = ("today", "previous", "msgspec_bare", "json_loads")


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench_decode.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--duration", "0.2", "--records", "40", "--per-fault", "2",
                          "--fuzz", "40", "--batch", "60", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"[bench_decode] [{2 * len(ENVELOPED)}/{2 * len(ENVELOPED)}]" in run.stderr   # the progress lines
    return json.loads(out.read_text())


def test_help_explains_the_options():
    run = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    for word in ("--duration", "--out", "--fuzz", "--previous", "msgspec", "JSON keys"):
        assert word in run.stdout


def test_every_format_has_figures_for_every_candidate(figures):
    assert set(figures["formats"]) == {cls.SCHEMA for cls in ENVELOPED}
    for schema, f in figures["formats"].items():
        assert f["records"]["valid"] > 0 and f["records"]["invalid"] > 0, schema
        for corpus in ("valid", "invalid"):
            for cand in CANDIDATES:
                row = f[corpus][cand]
                assert row["median_us"] > 0 and row["p99_us"] >= row["median_us"], (schema, corpus, cand)
                assert row["ratio_to_previous"] > 0
                assert row["rounds"] >= 2 and row["samples"] == row["rounds"] * f["records"][corpus]
        assert set(f["invalid_by_fault"]["today"]) >= {"wrong_type", "missing_field", "future_ts", "deep_nesting"}


def test_the_equivalence_check_reports_its_counts(figures):
    eq = figures["equivalence"]
    assert set(eq) == {"today", "msgspec_bare"}
    for name, e in eq.items():
        assert e["inputs"] > 0 and e["agree"] + e["disagree"] == e["inputs"], name
        assert sum(c["count"] for c in e["classes"]) == e["disagree"], name
        assert sum(e["disagree_by_source"].values()) == e["disagree"], name
        assert sum(c["count"] for c in e["field_classes"]) == e["both_reject_other_field"], name
        by_fault = e["both_reject_other_field_by_fault"]
        assert all(by_fault[f] <= e["both_reject_by_fault"][f] for f in by_fault), name
        for c in e["classes"] + e["field_classes"]:
            assert {"format", "input", "previous", "candidate"} <= set(c["example"])
    # msgspec alone accepts what the previous decoder refused (the ts window at least): the check can see it.
    assert eq["msgspec_bare"]["disagree"] > 0
    assert eq["today"]["disagree"] == 0     # the migration's promise: the same records accepted, the same values


def test_error_texts_and_the_profile_step(figures):
    rows = figures["errors_side_by_side"]
    assert {r["format"] for r in rows} == {cls.SCHEMA for cls in ENVELOPED}
    assert all(r["today"] and r["previous"] for r in rows)
    prof = figures["profile_process"]
    assert prof["batch"] > 0
    assert set(prof["per_event_us"]) == {"today", "previous", "no_decode"}
    assert all(v["median"] > 0 for v in prof["per_event_us"].values())
    assert set(prof["counts_match"]) == set(prof["ratio_to_previous"]) == set(prof["decode_share_us"]) \
        == set(prof["per_event_us"])
    assert all(prof["counts_match"].values())
    assert prof["ratio_to_previous"]["previous"] == 1.0 and prof["decode_share_us"]["no_decode"] == 0.0
    assert figures["versions"]["msgspec"] and figures["machine"]["cpus"]
