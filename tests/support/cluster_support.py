"""What the cluster tier's tests share: the ``adstream`` CLI as a user runs it, a submitted
job's id, stop-with-savepoint until the job has ended, and what the REST API says of a job.

Everything goes through the CLI (``adstream job … --target cluster``, ``adstream job stop``)
and the REST API, as a user would: no Flink internals."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from udfs import config
from udfs.io.flink_rest import FlinkRest


def adstream(sets: list[str], *args: str, timeout_s: float = 420) -> subprocess.CompletedProcess:
    """``adstream --env test --set … ARGS`` in a child process; its output captured."""
    cmd = [sys.executable, "-m", "scripts.cli", "--env", "test", *[x for s in sets for x in ("--set", s)], *args]
    return subprocess.run(cmd, cwd=config.ROOT, capture_output=True, text=True, timeout=timeout_s)


def submit(sets: list[str], job: str, *args: str) -> str:
    """``adstream job JOB --target cluster ARGS``: the job id, once every task runs."""
    run = adstream(sets, "job", job, "--target", "cluster", *args)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "running on the cluster" in run.stdout, run.stdout
    return run.stdout.split("submitted as job ")[1].split()[0]


def stop(cfg, sets: list[str], job_id: str, directory: Path, timeout_s: float = 60) -> str:
    """``adstream job stop ID --dir DIR``: the savepoint's location, once it is written under
    DIR and the job has ended FINISHED (which is what frees its slots for the next one)."""
    run = adstream(sets, "job", "stop", job_id, "--dir", str(directory))
    assert run.returncode == 0, run.stdout + run.stderr
    location = run.stdout.split("savepoint ")[-1].split()[0]
    assert any(directory.rglob("_metadata")), (location, run.stdout)
    rest, end = FlinkRest(cfg.flink.cluster.rest_url), time.monotonic() + timeout_s
    while rest.job(job_id)["state"] != "FINISHED" and time.monotonic() < end:
        time.sleep(0.5)
    assert rest.job(job_id)["state"] == "FINISHED", rest.job(job_id)["state"]
    return location


def parallelisms(cfg, job_id: str) -> set[int]:
    """Each vertex's parallelism, as the JobManager runs the job."""
    return {v["parallelism"] for v in FlinkRest(cfg.flink.cluster.rest_url).job(job_id)["vertices"]}


def counter(cfg, job_id: str, name: str, want: int, timeout_s: float = 40) -> int:
    """The job's ``adstream.<name>`` counter summed over its subtasks, read until it is ``want``
    or the time is up (the JobManager refreshes metrics about every 10 s, so a count lags)."""
    from scripts.flinkctl import control
    rest, got, end = FlinkRest(cfg.flink.cluster.rest_url), None, time.monotonic() + timeout_s
    while time.monotonic() < end:
        values = [int(float(v)) for k, v in control.job_counters(rest, job_id).items()
                  if k.endswith(f".adstream.{name}") and v != ""]
        got = sum(values) if values else None
        if got == want:
            break
        time.sleep(1)
    return got
