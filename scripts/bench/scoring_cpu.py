"""CPU of each part of a scoring-benchmark phase, by pid: the job, the load generator, the broker,
Redis, and everything else on the (shared) machine.

``with PhaseCpu(pids) as m: <phase>`` reads /proc before and after; ``m.result(answered)`` gives
cores per part, the job's CPU milliseconds per answered request, and the load average at both ends.
The arithmetic lives in ``scoring_stats`` (unit-tested); this module only reads /proc.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from scripts.bench import scoring_stats as S

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:          # the process ended between listing and reading
        return None


def ppid_map() -> dict[int, int]:
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (text := _read(f"/proc/{p.name}/stat")):
            out[int(p.name)] = S.stat_ppid(text)
    return out


def tree(root: int) -> set[int]:
    """``root`` and every process under it (process mode's Python workers sit under the JVM)."""
    return {root} | S.descendants(ppid_map(), root)


def is_tree(part: str) -> bool:
    """Parts counted with their process tree: the MiniCluster's JVM (``job``) and a cluster's
    TaskManagers (process mode's Python workers sit under them)."""
    return part == "job" or part.startswith("taskmanager")


def is_job(part: str) -> bool:
    """Parts that are the job: the MiniCluster's JVM, or a session cluster's JobManager and
    TaskManagers together (``job_cpu_ms_per_request`` sums them, so it means the same on both)."""
    return part == "job" or part.startswith(("jobmanager", "taskmanager"))


class PhaseCpu:
    """Ticks per part at the start and end of a phase.

    ``pids``: part name → root pid. The ``job`` and ``taskmanager*`` parts count their whole
    process tree with reaped children (a worker that exits mid-phase is not lost); the others
    count the one process, without children (the harness's children are the broker, Redis and
    a cluster's daemons, counted on their own)."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {k: v for k, v in pids.items() if v}

    def _ticks(self) -> dict[str, int]:
        out = {}
        for part, root in self.pids.items():
            procs = tree(root) if is_tree(part) else {root}
            texts = [t for t in (_read(f"/proc/{p}/stat") for p in procs) if t]
            out[part] = sum(S.stat_cpu_ticks(t, children=is_tree(part)) for t in texts)
        return out

    def __enter__(self) -> "PhaseCpu":
        self.load0 = S.loadavg(_read("/proc/loadavg") or "nan nan nan")
        self.machine0 = S.machine_busy_ticks(_read("/proc/stat") or "cpu 0 0 0 0 0 0 0 0")
        self.t0, self.a = time.monotonic(), self._ticks()
        return self

    def __exit__(self, *exc) -> None:
        self.b, self.wall = self._ticks(), time.monotonic() - self.t0
        self.machine1 = S.machine_busy_ticks(_read("/proc/stat") or "cpu 0 0 0 0 0 0 0 0")
        self.load1 = S.loadavg(_read("/proc/loadavg") or "nan nan nan")

    def result(self, answered: int) -> dict:
        """Cores per part over the phase, the machine's busy cores, and what none of ours used."""
        delta = {k: self.b.get(k, 0) - self.a.get(k, 0) for k in self.b}
        out = {f"{k}_cores": round(S.cores(0, d, self.wall, CLK_TCK), 3) for k, d in delta.items()}
        busy = S.cores(self.machine0[0], self.machine1[0], self.wall, CLK_TCK)
        out["machine_busy_cores"] = round(busy, 3)
        # Everything on the box that is none of the parts above: other people's work.
        out["other_cores"] = round(busy - sum(S.cores(0, d, self.wall, CLK_TCK) for d in delta.values()), 3)
        job = sum(d for k, d in delta.items() if is_job(k))
        out["job_cpu_ms_per_request"] = round(S.ms_per_request(job, CLK_TCK, answered), 3)
        out["requests_answered"] = answered
        out["wall_s"] = round(self.wall, 2)
        out["loadavg_start"], out["loadavg_end"] = self.load0, self.load1
        return out
