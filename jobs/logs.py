"""Start PyFlink's gateway JVM with its logs in the job's own files, not on a pipe.

PyFlink (2.2.1, ``pyflink_gateway_server.launch_gateway_server_process``) starts the
JVM with ``stderr=PIPE`` and reads that pipe only if the JVM dies before it is up.
In thread mode the job's Python runs inside that JVM, so anything written to fd 2
(Python warnings, tracebacks, Java's System.err) fills the 64 KiB pipe and then
blocks the writer — the job hangs. Its log4j file is ``flink-<user>-python-<host>.log``
opened without append, so concurrent jobs clobber each other's log.

``launch_gateway(cfg, job)`` points the JVM at ``jobs/log4j2-job.properties``
(a rotated, appended ``jvm.log`` in ``cfg.log_dir(job)``) and hands the launch a file
instead of the pipe (``stderr.log``, rotated at start). PyFlink offers no option for
the stderr of the process it spawns, so its ``Popen`` is wrapped for that one call;
the wrapper keeps PyFlink's own failure report working by giving it the file to read.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from udfs.io import job_logs
from udfs.config import Config

LOG4J = Path(__file__).with_name("log4j2-job.properties")
LOG4J_LEVEL = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}


def launch_gateway(cfg: Config, job: str) -> None:
    """Start the gateway JVM for ``job`` (no-op when this process already has one)."""
    from pyflink.java_gateway import get_gateway
    files = job_logs.paths(cfg, job)
    files[job_logs.JVM].parent.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "LOG4J_PROPERTIES": str(LOG4J),
        "ADSTREAM_JVM_LOG": str(files[job_logs.JVM]),
        "ADSTREAM_LOG_LEVEL": LOG4J_LEVEL[cfg.logs.level],
        "ADSTREAM_LOG_MAX_BYTES": str(cfg.logs.max_bytes),
        "ADSTREAM_LOG_BACKUPS": str(cfg.logs.backups),
        # PyFlink's -Dlog.file (unused by our log4j config, but keep it out of site-packages).
        "FLINK_LOG_DIR": str(files[job_logs.JVM].parent),
    })
    stderr = files[job_logs.STDERR]
    job_logs.rotate(stderr, cfg.logs.max_bytes, cfg.logs.backups)
    with _stderr_to(stderr):
        get_gateway()


@contextlib.contextmanager
def _stderr_to(path: Path):
    from pyflink import pyflink_gateway_server as server
    original = server.Popen

    def popen(*args, **kwargs):
        if kwargs.get("stderr") is not subprocess.PIPE:
            return original(*args, **kwargs)
        start = path.stat().st_size if path.exists() else 0
        with path.open("ab") as out:
            kwargs["stderr"] = out
            proc = original(*args, **kwargs)
        reader = path.open("rb")   # PyFlink reads proc.stderr when the JVM exits early
        reader.seek(start)
        proc.stderr = reader
        return proc

    server.Popen = popen
    try:
        yield
    finally:
        server.Popen = original
