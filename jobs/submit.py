"""``--target cluster``: submit a job's own code to a Flink session cluster with ``flink run``.

The same job module runs twice: here, in the ``adstream job … --target cluster`` process,
it builds a ``flink run -m HOST:PORT -d -pym jobs.<name>`` command line; then ``flink run``'s
PythonDriver runs that module's ``__main__`` (``job_main``), which loads the config the
submitter resolved (``--config-json``: one file, so every path names the same place it did
here), builds the same graph with ``cluster=True`` settings and hands it to the cluster.

What ships: the project's packages ``udfs/``, ``jobs/`` and ``features/`` (``-pyfs``: Flink
copies them to every TaskManager and puts them on the workers' ``PYTHONPATH``), the Python
the workers run (``-pyexec``, and ``-pyclientexec`` for the driver) and, for thread mode, the
venv's site-packages (``-pypath``). The Kafka connector is in the cluster's ``lib/``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

from udfs import config
from udfs.config import ROOT, Config
from udfs.errors import StackError
from udfs.io.flink_rest import FlinkRest

SHIPPED = ("udfs", "jobs", "features")   # the packages a job's workers import
JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
STARTED = ("RUNNING", "FINISHED")
GAVE_UP = ("FAILED", "CANCELED")


def add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=("local", "cluster"), default="local",
                   help="local: Flink's embedded mini-cluster in this process (default); cluster: "
                        "submit with `flink run -d` to the session cluster at flink.cluster.rest_host:"
                        "rest_port (`adstream flink up`) and return once the job runs")
    p.add_argument("--follow", action="store_true",
                   help="with --target cluster: keep watching the job until it ends; exit 1 if it "
                        "fails (after flink.restart_attempts restarts). Ctrl-C leaves it running")
    p.set_defaults(in_cluster=False)


def _shipped_files() -> list[tuple[str, Path]]:
    """(path in the archive, file) of every file of the shipped packages, caches left out."""
    return [(f.relative_to(ROOT).as_posix(), f) for pkg in SHIPPED for f in sorted((ROOT / pkg).rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"]


def code_archive(out_dir: Path) -> Path:
    """A zip of the shipped packages (``SHIPPED``, no caches), rewritten on every submission.

    ``-pyfs DIR`` would put DIR itself on the workers' path (``import udfs`` then fails: Flink
    adds ``…/udfs/udfs``); a zip's root is what goes on the path, so the packages import as here."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / "adstream-code.zip"
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, f in _shipped_files():
            z.write(f, name)
    tmp.replace(archive)
    return archive


def code_dir(out_dir: Path) -> Path:
    """The shipped packages copied to ``<out_dir>/code/<digest of their contents>/``, kept.

    Why: a TaskManager's thread-mode Python is one interpreter for all its jobs, and each task
    attempt gets ``-pyfs`` unpacked into its own folder, deleted when the task ends. The first
    job's ``import udfs`` binds the package to its folder; once that job ended, a later job
    (another job, or the same resubmitted) found ``udfs`` in ``sys.modules`` pointing at a
    deleted folder and failed importing any module not imported before (``No module named
    'udfs.flink.scoring'`` after a profile job). Ahead of the attempt's folder on the workers'
    path, this folder is where every job's packages are found, and it stays as long as the
    code it holds is what was submitted."""
    files = _shipped_files()
    digest = hashlib.sha256()
    for name, f in files:
        digest.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    target = out_dir / "code" / digest.hexdigest()[:16]
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        for name, f in files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, tmp / name)
        try:
            tmp.rename(target)
        except OSError:   # a concurrent submission of the same code got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def flink_run_command(cfg: Config, module: str, config_json: Path, job_name: str,
                      job_args: list[str], restore_from: str | None, layout_root: Path) -> list[str]:
    """The ``flink run`` command line that submits ``module`` (``jobs.profile``) detached."""
    c = cfg.flink.cluster
    python = c.python_executable or sys.executable
    from jobs.cluster_files import flink_home
    cmd = [str(flink_home() / "bin" / "flink"), "run", "-m", c.rest_address, "-d",
           "-pym", module, "-pyfs", str(code_archive(layout_root)),
           "-pyexec", python, "-pyclientexec", python,
           # A cluster of this machine (no python_path named) also reads the code from a kept
           # folder (code_dir: thread mode's shared interpreter); a remote one names its own.
           "-pypath", c.python_path or os.pathsep.join([sysconfig.get_paths()["purelib"],
                                                        str(code_dir(layout_root))])]
    if restore_from:
        cmd += ["-s", restore_from] + (["-n"] if cfg.flink.allow_unclaimed_state else [])
    return cmd + ["--config-json", str(config_json), job_name.removeprefix("adstream-"), *job_args]


def submit(cfg: Config, module: str, job_name: str, job_args: list[str], restore_from: str | None,
           until_end: bool = False) -> int:
    """Submit through ``flink run -d``; follow the job until it runs (0) or fails (1), or with
    ``until_end`` until it ends (``follow``)."""
    from jobs.cluster_files import flink_env, layout, write_conf
    lay = layout(cfg)
    if not (lay.conf / "config.yaml").exists():
        write_conf(cfg, lay)   # a cluster started elsewhere: the client still needs our lib/
    check_lib(cfg, lay.lib)   # what is wrong here first, then whether the cluster answers
    rest = FlinkRest(cfg.flink.cluster.rest_url)
    rest.overview()   # a clear "is the cluster up?" before a JVM is started for nothing
    lay.root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"{job_name}-", dir=lay.root,
                                     delete=False) as f:
        json.dump(config.to_dict(cfg), f)
    cmd = flink_run_command(cfg, module, Path(f.name), job_name, job_args, restore_from, lay.root)
    print(f"submitting {job_name} to {cfg.flink.cluster.rest_url} (flink run -d -pym {module})", flush=True)
    t0 = time.monotonic()
    try:
        run = subprocess.run(cmd, env=flink_env(lay), cwd=ROOT, capture_output=True, text=True,
                             timeout=cfg.flink.cluster.submit_timeout_s)
    except subprocess.TimeoutExpired:
        raise StackError(f"flink run did not return within {cfg.flink.cluster.submit_timeout_s}s "
                         "(flink.cluster.submit_timeout_s)") from None
    finally:
        Path(f.name).unlink(missing_ok=True)
    found = JOB_ID.search(run.stdout)
    if run.returncode != 0 or not found:
        raise StackError(f"flink run failed (exit {run.returncode}):\n{_cause(run.stdout + run.stderr)}")
    job_id = found.group(1)
    print(f"{job_name} submitted as job {job_id} in {time.monotonic() - t0:.0f}s", flush=True)
    return follow(rest, job_id, job_name, cfg.flink.cluster.submit_timeout_s, until_end)


def check_lib(cfg: Config, lib: Path) -> None:
    """Refuse, with what to do, a submission whose cluster ``lib/`` lacks a jar every job needs:
    ``flink run`` plans the Kafka tables with that lib, and the TaskManagers run with it. Without
    this the client fails deep in planning ("Could not find any factory for identifier 'kafka'")."""
    python_jar = next(iter(sorted(lib.glob("flink-python-*.jar"))), None)
    needed = {"the Kafka connector": lib / cfg.jar_path("flink_connector").name,
              "flink-python (thread mode)": python_jar or lib / "flink-python-*.jar"}
    missing = [f"{what} ({p.name})" for what, p in needed.items() if not p.exists()]
    if missing:
        raise StackError(f"the cluster's lib/ ({lib}) lacks {' and '.join(missing)}: a job cannot be "
                         "planned or run without it. Restart the cluster with `adstream flink down && "
                         "adstream flink up` (it links them), or, for a cluster started elsewhere, copy "
                         f"{cfg.jar_path('flink_connector')} and the wheel's opt/flink-python jar into its "
                         "lib/ and restart it")


# Flink's own words for a missing connector, and what to do about it.
MISSING_CONNECTOR = "Could not find any factory for identifier 'kafka'"


def _cause(output: str, n: int = 12) -> str:
    """The lines of ``flink run``'s output that say why (its causes), else its tail."""
    lines = output.splitlines()
    causes = [ln for ln in lines if re.search(r"(Exception|Error)\b|Caused by", ln)]
    hint = ([f"hint: the Kafka connector jar is not on the classpath of `flink run` (the cluster's "
             "lib/): `adstream flink up` links it (jars.flink_connector)"]
            if MISSING_CONNECTOR in output else [])
    return "\n".join((causes or lines)[-n:] + hint)


def root_cause(rest: FlinkRest, job_id: str) -> str:
    """The newest failure, for a person: its first line and its innermost causes (the REST
    API's exception history)."""
    entries = rest.exceptions(job_id).get("exceptionHistory", {}).get("entries", [])
    if not entries:
        return "(no exception recorded; see the TaskManager log)"
    lines = entries[0].get("stacktrace", "").splitlines()
    causes = [ln.strip() for ln in lines[1:] if ln.startswith("Caused by")]
    return " ← ".join(lines[:1] + causes[-2:])[:1500]


def follow(rest: FlinkRest, job_id: str, label: str, timeout_s: float, until_end: bool = False,
           sleep=time.sleep) -> int:
    """Wait until every task of the job runs (0) or the job gave up (1, with its root cause).

    ``until_end``: then go on watching (saying so when it restarts) until it ends: 0 when it
    FINISHED (stop-with-savepoint), 1 when it FAILED or was cancelled. Ctrl-C stops watching;
    the job keeps running on the cluster."""
    deadline = time.monotonic() + timeout_s
    last, running = None, False
    while until_end or time.monotonic() < deadline:
        job = rest.job(job_id)
        state = job.get("state")
        if state != last:
            print(f"{label} job {job_id} {state}", file=sys.stderr if state in GAVE_UP + ("RESTARTING",)
                  else sys.stdout, flush=True)
            last = state
        if state in GAVE_UP:
            print(f"{label} job {state}: {root_cause(rest, job_id)}", file=sys.stderr, flush=True)
            return 1
        if state == "FINISHED" and (running or until_end):
            return 0
        tasks = [v.get("status") for v in job.get("vertices", [])]
        if not running and state in STARTED and tasks and all(t in STARTED for t in tasks):
            running = True
            print(f"{label} job {job_id} running on the cluster; `adstream flink status`, "
                  f"`adstream job savepoint|stop {label.removeprefix('adstream-')}`", flush=True)
            if not until_end:
                return 0
        sleep(1.0)
    raise StackError(f"job {job_id} not running within {timeout_s:.0f}s (last state {last}); "
                     "see `adstream flink status` and the TaskManager log")


def job_main(register, argv: list[str]) -> int:
    """``python -m jobs.<name>`` (what ``flink run`` runs): the job's own subcommand, on the cluster.

    ``[--config-json FILE | --env E --conf F --set K=V] NAME [job options]``."""
    p = argparse.ArgumentParser(description="Run inside `flink run`: build the job's graph and hand "
                                            "it to the cluster. Normally started by "
                                            "`adstream job NAME --target cluster`.")
    p.add_argument("--config-json", metavar="FILE", help="the submitter's resolved config (to_dict)")
    p.add_argument("--env", default=None)
    p.add_argument("--conf", action="append", default=[])
    p.add_argument("--set", action="append", default=[], dest="overrides")
    register(p.add_subparsers(dest="job", required=True))
    a = p.parse_args(argv)
    if a.config_json:
        cfg = config.from_dict(json.loads(Path(a.config_json).read_text()))
    else:
        cfg = config.load(a.env, a.conf, a.overrides)
    a.in_cluster, a.target = True, "local"
    return int(a.func(cfg, a) or 0)


def submitted(client) -> int:
    """Inside ``flink run -d``: the job is handed over; say its id and let the driver exit."""
    print(f"JobID {client.get_job_id()} handed to the cluster", flush=True)
    return 0
