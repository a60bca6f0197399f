"""The CLI's job watch (jobs/watch.py), restart settings and the job log files, without Flink."""
from __future__ import annotations

import io
import logging

import pytest

from jobs.common import restart_settings
from jobs.status import report
from jobs.watch import FAILED_EXIT, failure_reason, watch
from udfs import config
from udfs.io import job_logs

pytestmark = pytest.mark.unit


class Status:
    def __init__(self, name):
        self.name = name


class Done:
    def __init__(self, value=None, exc=None, done=True):
        self.value, self.exc, self._done = value, exc, done

    def done(self):
        return self._done

    def result(self):
        if self.exc:
            raise self.exc
        return self.value


class FakeClient:
    """What execute_async returns, as far as watch() asks: statuses in order, then a result."""

    def __init__(self, statuses, exc=None):
        self.statuses, self.exc, self.polls = list(statuses), exc, 0

    def get_job_id(self):
        return "j1"

    def get_job_status(self):
        self.polls += 1
        return Done(Status(self.statuses[min(self.polls, len(self.statuses)) - 1]))

    def get_job_execution_result(self):
        client = self

        class Result(Done):
            def done(self):
                return client.polls >= len(client.statuses)
        return Result(exc=self.exc)


def run(client):
    out, err = io.StringIO(), io.StringIO()
    code = watch(client, "scoring", 10, "/logs/x", out=out, err=err, sleep=lambda s: None)
    return code, out.getvalue(), err.getvalue()


def test_restarts_are_reported_and_a_failure_exits_non_zero_with_the_reason():
    code, out, err = run(FakeClient(["RUNNING", "RESTARTING", "RUNNING", "FAILED"],
                                    exc=RuntimeError("Recovery is suppressed\nstack...")))
    assert code == FAILED_EXIT
    assert "RESTARTING" in err and "scoring job FAILED: RuntimeError: Recovery is suppressed" in err
    assert "stack..." not in err and "/logs/x" in err


def test_a_finished_job_exits_zero():
    code, out, err = run(FakeClient(["RUNNING", "FINISHED"]))
    assert code == 0 and "finished" in out and not err


def test_a_cancelled_job_exits_non_zero():
    code, _, err = run(FakeClient(["RUNNING", "CANCELED"]))
    assert code == FAILED_EXIT and "CANCELED" in err


def test_failure_reason_follows_the_python_cause_chain():
    try:
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise RuntimeError("outer") from e
    except RuntimeError as e:
        assert failure_reason(e) == "RuntimeError: outer ← KeyError: 'inner'"


def test_restart_settings_from_config():
    cfg = config.load("test", overrides=["flink.restart_attempts=2", "flink.restart_delay_ms=300"])
    assert restart_settings(cfg) == {"restart-strategy.type": "fixed-delay",
                                     "restart-strategy.fixed-delay.attempts": "2",
                                     "restart-strategy.fixed-delay.delay": "300 ms"}
    exp = restart_settings(config.load("test", overrides=["flink.restart_strategy=exponential-delay"]))
    assert exp["restart-strategy.type"] == "exponential-delay"
    assert exp["restart-strategy.exponential-delay.attempts-before-reset-backoff"] == "3"
    with pytest.raises(config.ConfigError, match="restart_strategy"):
        config.load("test", overrides=["flink.restart_strategy=forever"])


def test_job_logger_writes_to_the_jobs_file_and_status_shows_its_errors(tmp_path):
    cfg = config.load("test", overrides=[f"paths.work_dir={tmp_path}", "logs.max_bytes=4096",
                                         "logs.backups=2"])
    log = job_logs.job_logger(cfg, "adstream-x", "adstream.test-x")
    for i in range(100):
        log.warning("catalogue record %d rejected", i)
    log.error("boom %s", "E1")
    files = job_logs.paths(cfg, "adstream-x")
    assert files[job_logs.PYTHON].exists() and files[job_logs.PYTHON].stat().st_size <= 4096
    assert (tmp_path / "logs" / "adstream-x" / "python.log.1").exists()        # rotated
    text = report(cfg, ["adstream-x"], 5)
    assert str(files[job_logs.PYTHON]) in text and "boom E1" in text and "rejected" not in text
    for h in logging.getLogger("adstream.test-x").handlers:
        h.close()


def test_rotate_keeps_the_configured_number_of_old_files(tmp_path):
    p = tmp_path / "stderr.log"
    for i in range(4):
        p.write_text("x" * 10 + str(i))
        job_logs.rotate(p, 5, 2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["stderr.log.1", "stderr.log.2"]
    assert (tmp_path / "stderr.log.1").read_text().endswith("3")
