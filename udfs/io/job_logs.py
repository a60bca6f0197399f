"""Where a job's logs go: its own files under ``<paths.work_dir>/<logs.dir>/<job>/``.

Pure file layout and Python logging (no Flink), shared by the job launcher
(jobs/logs.py: the gateway JVM's files), the Python functions running inside the
job (their ``python.log``) and ``adstream job status`` (what to show). Nothing is
written to a pipe: PyFlink starts its gateway JVM with stderr on a pipe nobody
reads, and 64 KiB of warnings there blocked the scoring thread in write(2).
"""
from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from udfs.config import Config

JVM, PYTHON, STDERR = "jvm.log", "python.log", "stderr.log"
FILES = (JVM, PYTHON, STDERR)
FORMAT = "%(asctime)s %(levelname)-5s %(name)s - %(message)s"
# Lines a person looking for trouble wants: a log level of ERROR/FATAL/CRITICAL, or an
# exception line of a Java or Python trace.
ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b|^\S*(Exception|Error)\b|^Traceback|^Caused by:")


def paths(cfg: Config, job: str) -> dict[str, Path]:
    d = cfg.log_dir(job)
    return {name: d / name for name in FILES}


def job_logger(cfg: Config, job: str, name: str) -> logging.Logger:
    """Logger ``name`` writing to the job's rotated ``python.log`` (not to stderr)."""
    log = logging.getLogger(name)
    path = paths(cfg, job)[PYTHON]
    if not any(getattr(h, "baseFilename", None) == str(path) for h in log.handlers):
        for h in [h for h in log.handlers if getattr(h, "adstream", False)]:
            log.removeHandler(h)   # another job's file (two jobs in one worker process)
            h.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        h = logging.handlers.RotatingFileHandler(path, maxBytes=cfg.logs.max_bytes,
                                                 backupCount=cfg.logs.backups, encoding="utf-8")
        h.adstream = True
        h.setFormatter(logging.Formatter(FORMAT))
        log.addHandler(h)
    log.setLevel(cfg.logs.level)
    log.propagate = False   # the root logger's handlers may write to stderr
    return log


def rotate(path: Path, max_bytes: int, backups: int) -> None:
    """``path`` → ``path.1`` → … when it has grown past ``max_bytes`` (for files no logger rotates)."""
    if not path.exists() or path.stat().st_size < max_bytes:
        return
    for i in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{i + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))


def error_lines(path: Path, n: int, max_scan_bytes: int) -> list[str]:
    """The last ``n`` error lines of a log file (reading at most its last ``max_scan_bytes``)."""
    if not path.exists():
        return []
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - max_scan_bytes))
        text = f.read().decode("utf-8", "replace")
    hits = [ln for ln in text.splitlines() if ERROR_LINE.search(ln)]
    return hits[-n:]
