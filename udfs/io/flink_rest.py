"""The Flink cluster's REST API (JobManager): overview, TaskManagers, jobs, savepoints, metrics.

Used by ``adstream flink status`` (scripts/flinkctl) and ``adstream job savepoint|stop`` and the
``--target cluster`` submission (jobs/submit.py). Standard library only (``urllib``): the
CLI talks to a cluster without starting a JVM. Every failure is a :class:`StackError` that
names the URL and says what to do, never a bare ``URLError``.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from udfs.errors import StackError

TIMEOUT_S = 5.0
# Terminal states of an asynchronous operation (savepoint trigger) in the REST API.
DONE = "COMPLETED"


class FlinkRest:
    """A client for one JobManager's REST endpoint (``http://host:port``)."""

    def __init__(self, base_url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        url = f"{self.base}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:500]
            raise StackError(f"Flink REST {method} {url}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise StackError(f"Flink REST API at {self.base} does not answer ({e}); "
                             "is the cluster up? (`adstream flink up`, `adstream flink status`)") from None
        return json.loads(raw) if raw else {}

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def answers(self) -> bool:
        try:
            self.get("/config")
            return True
        except StackError:
            return False

    def overview(self) -> dict:
        """``/overview``: taskmanagers, slots-total, slots-available, jobs-running, flink-version."""
        return self.get("/overview")

    def taskmanagers(self) -> list[dict]:
        return self.get("/taskmanagers").get("taskmanagers", [])

    def jobs(self) -> list[dict]:
        """``/jobs/overview``: every job the cluster knows (jid, name, state, start-time)."""
        return self.get("/jobs/overview").get("jobs", [])

    def job(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}")

    def exceptions(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}/exceptions")

    def vertex_metrics(self, job_id: str, vertex_id: str, names: list[str] | None = None,
                       agg: str = "sum") -> dict[str, str]:
        """A vertex's metrics aggregated over its subtasks by the REST API (``agg``: sum, max,
        min or avg); all names, without values, if ``names`` is None."""
        path = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
        if names is None:
            return {m["id"]: "" for m in self.get(path)}
        got = self.get(f"{path}?get={','.join(names)}&agg={agg}") if names else []
        return {m["id"]: m.get(agg, m.get("value", "")) for m in got}

    def cancel(self, job_id: str) -> None:
        """Cancel the job (``PATCH /jobs/<id>?mode=cancel``): no savepoint; returns once accepted."""
        self._call("PATCH", f"/jobs/{job_id}?mode=cancel")

    def trigger_savepoint(self, job_id: str, target_dir: str, *, stop: bool = False) -> str:
        """Start a savepoint (``stop``: stop-with-savepoint); returns the operation's trigger id."""
        if stop:
            body = {"targetDirectory": target_dir, "drain": False}
            return self._call("POST", f"/jobs/{job_id}/stop", body)["request-id"]
        body = {"target-directory": target_dir, "cancel-job": False}
        return self._call("POST", f"/jobs/{job_id}/savepoints", body)["request-id"]

    def wait_savepoint(self, job_id: str, trigger: str, timeout_s: float,
                       sleep: Callable[[float], None] = time.sleep) -> str:
        """Block until the savepoint is written; its location, or StackError with Flink's reason."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.get(f"/jobs/{job_id}/savepoints/{trigger}")
            if st.get("status", {}).get("id") == DONE:
                op = st.get("operation", {})
                if "failure-cause" in op:
                    cause = op["failure-cause"].get("stack-trace", "")
                    raise StackError(f"savepoint of job {job_id} failed: {_first_lines(cause)}")
                return op["location"]
            sleep(0.5)
        raise StackError(f"savepoint of job {job_id} not done within {timeout_s:.0f}s "
                         f"(its trigger id: {trigger}); see the JobManager log")


def _first_lines(trace: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in trace.splitlines()[:n])
