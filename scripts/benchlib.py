"""What every benchmark shares: its own stack on free ports, percentiles, a table and a JSON file.

Benchmarks are measurements, never tests: they print figures and write them; they assert nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import socket
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
    from scripts import stack
    with tempfile.TemporaryDirectory(prefix="adstream-bench-") as d:
        kport, cport, rport = free_ports(3)
        cfg = config.load(env, overrides=[
            f"kafka.port={kport}", f"kafka.controller_port={cport}",
            f"redis.port={rport}", f"paths.work_dir={d}", f"flink.checkpoint_dir={d}/ckpt",
            *overrides])
        try:
            stack.up(cfg)
            yield cfg
        finally:
            stack.down(cfg)  # also when up() failed half-way: stops whatever it started


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
