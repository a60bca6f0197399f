"""``adstream job … --target cluster`` refuses, before anything is submitted, a cluster lib/
that lacks the Kafka connector, and says what to do (the CLI as a user runs it; no cluster is
needed: the refusal comes before the REST call)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.cluster_files import layout, write_conf
from udfs import config

ROOT = config.ROOT


def test_a_cluster_lib_without_the_connector_is_refused_by_the_cli(tmp_path):
    sets = [f"paths.work_dir={tmp_path}"]
    cfg = config.load("test", overrides=sets)
    if not cfg.jar_path("flink_connector").exists():
        pytest.skip("connector jar not fetched (make setup)")
    lay = layout(cfg)
    write_conf(cfg, lay)
    (lay.lib / cfg.jar_path("flink_connector").name).unlink()
    run = subprocess.run([sys.executable, "-m", "scripts.cli", "--env", "test", "--set", sets[0],
                          "job", "profile", "--target", "cluster"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "lacks the Kafka connector" in run.stderr and "adstream flink up" in run.stderr, run.stderr
    assert "submitting" not in run.stdout   # refused before `flink run` was started
