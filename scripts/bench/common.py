"""What every benchmark shares: its own stack on free ports, percentiles, a table and a JSON file.

Benchmarks are measurements, never tests: they print figures and write them; they assert nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from udfs import config
from udfs.config import Config


def parser(description: str, duration: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--duration", type=float, default=duration, help="seconds of measurement per phase")
    p.add_argument("--out", default=None, help="write the figures as one JSON object to this file")
    p.add_argument("--env", default="test", help="config overlay the benchmark starts from")
    return p


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open while choosing, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def own_stack(env: str = "test", overrides: Sequence[str] = ()) -> Iterator[Config]:
    """Kafka + Redis on free ports with state in a temp dir; stopped (by pid) afterwards."""
    from scripts.stack import control as stack
    with tempfile.TemporaryDirectory(prefix="adstream-bench-") as d:
        kport, cport, rport = free_ports(3)
        cfg = config.load(env, overrides=[
            f"kafka.port={kport}", f"kafka.controller_port={cport}",
            f"redis.port={rport}", f"paths.work_dir={d}", f"flink.checkpoint_dir={d}/ckpt",
            *overrides])
        with _signals_unwind():
            try:
                stack.up(cfg)
                yield cfg
            finally:
                stack.down(cfg)  # also when up() failed half-way: stops whatever it started


class Stopped(SystemExit):
    """Raised in the main thread by SIGTERM/SIGHUP, so ``finally`` blocks run."""


UNWIND_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP (``timeout``, a closed terminal) into an exception while inside.

    Python's default for SIGTERM ends the process without unwinding, which left a
    benchmark's broker and Redis running after ``timeout`` stopped it. Ctrl-C raises
    KeyboardInterrupt as usual. Only the first signal raises: a second one (an impatient
    Ctrl-C, ``timeout`` and a closed terminal together) would otherwise interrupt the
    ``finally`` that is stopping the stack, and leave exactly what this guards against.
    """
    def ignore(signum, _frame):
        print(f"[bench] {signal.Signals(signum).name} while stopping: still stopping what this run started",
              file=sys.stderr, flush=True)

    def stop(signum, _frame):
        for s in UNWIND_SIGNALS:
            signal.signal(s, ignore)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(128 + signum)
    before = {s: signal.signal(s, stop) for s in UNWIND_SIGNALS}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def cpu_probe(n: int = 7) -> float:
    """Median ms of a fixed pure-Python loop: how fast this (shared) machine runs right now.

    Taken before and after a benchmark, it shows when a figure moved because the host did
    (on these VMs the same loop has taken 0.26 to 0.42 s within a minute)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        sum(i * i for i in range(300_000))
        out.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(out))


def pct(samples_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=float)
    if a.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "n": 0}
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "p999": float(np.percentile(a, 99.9)), "n": int(a.size)}


def report(title: str, rows: list[tuple[str, str]], figures: dict, out: str | None) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 24))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    figures = {**figures, "machine": {"cpus": __import__("os").cpu_count(),
                                      "python": platform.python_version(),
                                      "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {out}")


def _proc_stat(path: str) -> tuple[str, float]:
    """(name, user+system CPU seconds) from a /proc/.../stat file."""
    import os
    text = Path(path).read_text()
    fields = text[text.rindex(")") + 2:].split()
    return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_by_marker() -> dict[str, int]:
    """This process's children: the Kafka broker, Redis, the PyFlink JVM (mini cluster) and a
    session cluster's daemons (``--target cluster``; their command lines name pyflink too, so
    they are told apart by their main class first)."""
    import os
    found: dict[str, int] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid != os.getpid():
            continue
        if b"kafka.Kafka" in cmd:
            found["kafka broker"] = int(p.name)
        elif b"StandaloneSessionClusterEntrypoint" in cmd:
            found["flink jobmanager"] = int(p.name)
        elif b"TaskManagerRunner" in cmd:
            found[f"{TASKMANAGER} {p.name}"] = int(p.name)
        elif b"PythonGatewayServer" in cmd or b"pyflink" in cmd:
            found["flink JVM"] = int(p.name)
        elif b"redis-server" in cmd:
            found["redis"] = int(p.name)
    return found


TASKMANAGER = "flink taskmanager"


class CpuMeter:
    """Cores used per process over a stretch of wall time (``with CpuMeter(...) as m: ...``).

    Counts this process (the load generator), its Kafka broker, Redis and Flink JVM
    children, and the busiest threads of the Flink JVM (the Python step runs on its task
    thread in thread mode) or of a session cluster's TaskManagers, so a benchmark can show
    where a 2-core box's CPU went.
    """

    def __init__(self, flink_threads: int = 4):
        self.flink_threads = flink_threads
        self.cores: dict[str, float] = {}
        self.jit_cores = 0.0

    def _sample(self) -> dict[tuple[str, str], float]:
        import os
        out: dict[tuple[str, str], float] = {("load generator (this process)", ""): _proc_stat(
            f"/proc/{os.getpid()}/stat")[1]}
        for name, pid in _children_by_marker().items():
            try:
                out[(name, "")] = _proc_stat(f"/proc/{pid}/stat")[1]
                if name == "flink JVM" or name.startswith(TASKMANAGER):
                    for t in Path(f"/proc/{pid}/task").iterdir():
                        tname, cpu = _proc_stat(str(t / "stat"))
                        out[(name, f"{tname} #{t.name}")] = cpu
            except OSError:
                continue
        return out

    def __enter__(self) -> "CpuMeter":
        self._t0, self._a = time.monotonic(), self._sample()
        return self

    def __exit__(self, *exc) -> None:
        b, wall = self._sample(), time.monotonic() - self._t0
        delta = {k: v - self._a.get(k, 0.0) for k, v in b.items()}
        self.cores = {name: round(d / wall, 3) for (name, thread), d in delta.items() if not thread}
        named = [(d, thread.split(" #")[0]) for (name, thread), d in delta.items() if thread]
        # HotSpot's JIT compiler threads: busy while the JVM is still warming up
        self.jit_cores = round(sum(d for d, t in named if t.startswith(("C1 Compiler", "C2 Compiler"))) / wall, 3)
        threads = sorted(named, reverse=True)[: self.flink_threads]
        for d, tname in threads:
            self.cores[f"  flink thread: {tname}"] = round(d / wall, 3)
