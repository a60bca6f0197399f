"""One scoring (or no-op) job under the benchmark: started, warmed up, measured phase by phase, stopped.

The job runs in the PyFlink gateway JVM this process launched (a mini cluster); in thread
mode the Python step runs inside that JVM, in process mode in Python workers under it. Its
pid is asked of the JVM itself, so the CPU of "the job" is that process tree, by pid.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path

from scripts.bench import common as benchlib
from scripts.bench import scoring_report as R
from scripts.bench.scoring_cpu import PhaseCpu
from scripts.bench.scoring_load import Responses, run_phase, wait_ready
from udfs import config

GATEWAY_MARKER = b"PythonGatewayServer"


class JobRun:
    """One job (its own request/response topics, so runs never see each other's traffic)."""

    WARMUP_RATE, WARMUP_STEP_S = 300.0, 5.0
    WARMUP_MIN_S, WARMUP_MAX_S = 20.0, 120.0
    JIT_QUIET_CORES = 0.05   # the JVM's compiler threads under this: warmed up

    def __init__(self, base: list[str], env: str, name: str, world, pids, echo: bool = False,
                 warm_s: float = WARMUP_MIN_S, lean: bool = False, **job):
        sets = base + [f"kafka.topics.ad_requests.name=req-{name}", f"kafka.topics.ranked_ads.name=resp-{name}",
                       f"scoring_job.group_id=bench-{name}"]
        cfg = config.load(env, overrides=sets)
        self.cfg = dataclasses.replace(cfg, scoring_job=dataclasses.replace(cfg.scoring_job, **job))
        from scripts.stack.control import create_topics
        create_topics(self.cfg)
        self.world, self.pids, self.client = world, pids, None
        self.responses = Responses(self.cfg)
        try:
            self.client = self._launch(echo, lean)
            self.startup_s = wait_ready(self.cfg, self.responses, world.request)
            self.warmup = self._warm(warm_s)
        except BaseException:   # a signal mid warm-up too: the caller never gets an object to stop
            self.stop()
            raise

    def _launch(self, echo: bool, lean: bool):
        """Start the job in this process's PyFlink JVM (the MiniCluster); its JobClient."""
        from jobs.scoring import start
        client = self._echo(lean) if echo else start(self.cfg)
        if not self.pids.get("flink_jvm"):
            self.pids.set(flink_jvm=gateway_pid())
        return client

    def roots(self) -> dict[str, int | None]:
        """Part → pid for a phase's CPU split: the job (the JVM's tree), load generator, broker, Redis."""
        return {"job": self.pids.get("flink_jvm"), "loadgen": os.getpid(),
                "broker": self.pids.get("kafka"), "redis": self.pids.get("redis")}

    def _warm(self, min_s: float) -> dict:
        """Unmeasured load until the JVM's JIT compilers go quiet (at least ``min_s``).

        A fresh job's JIT takes a third of a core or more for its first ~30 s at a few
        hundred requests/s; what the benchmark reports is the job once it has settled."""
        start, i, jit = time.monotonic(), 0, float("nan")
        while time.monotonic() - start < self.WARMUP_MAX_S:
            with benchlib.CpuMeter() as m:
                run_phase(self.cfg, self.responses, self.world.request, rate=self.WARMUP_RATE,
                          duration=self.WARMUP_STEP_S, warmup=0, prefix=f"warm{i}", drain_s=60)
            i, jit = i + 1, m.jit_cores
            if time.monotonic() - start >= min_s and jit < self.JIT_QUIET_CORES:
                break
        return {"seconds": round(time.monotonic() - start, 1), "rate_rps": self.WARMUP_RATE,
                "jit_cores_last_step": jit}

    def _echo(self, lean: bool):
        from pyflink.common import Types

        from jobs.common import table_env
        from jobs.scoring import JOB, add_sinks, keyed_requests, latency_settings, request_table, route
        from scripts.bench.scoring_echo import EchoFunction, LeanEchoFunction
        from udfs.flink.scoring import OUTPUT_TYPE
        env, tenv = table_env(self.cfg, JOB + "-echo", latency_settings(self.cfg))
        src = request_table(tenv, self.cfg)
        if lean:   # one-column Rows: the planner cannot convert a one-column table to bare STRINGs
            step = tenv.to_append_stream(src, Types.ROW([Types.STRING()])).process(
                LeanEchoFunction(), output_type=OUTPUT_TYPE)
        else:
            step = keyed_requests(tenv, src).process(EchoFunction(), output_type=OUTPUT_TYPE)
        add_sinks(tenv, route(tenv, step.name("echo").uid("echo.v1")), self.cfg)
        return env.execute_async(JOB + "-echo")

    def phase(self, rate: float, duration: float, tag: str, drain_s: float = 30.0):
        return run_phase(self.cfg, self.responses, self.world.request, rate=rate, duration=duration,
                         warmup=2.0, prefix=tag, drain_s=drain_s)

    def measure(self, rate: float, tag: str, duration: float, drain_s: float = 30.0):
        """One measured phase: (Phase, summary with ``cpu``, per-process cores as before).

        Waits first until the job has answered what an earlier (faster) phase queued."""
        settle = self.responses.wait_quiet()
        with benchlib.CpuMeter() as m, PhaseCpu(self.roots()) as c:
            ph = self.phase(rate, duration, tag, drain_s)
        s = R.summary(ph)
        s.update(settle_s=settle, cpu=c.result(ph.answered + ph.warm_answered))
        return ph, s, m.cores

    def stop(self, timeout_s: float = 60.0) -> None:
        """Cancel the job; bounded, so a wedged JVM cannot keep a stopped run from stopping the stack."""
        if self.client is None:
            self.responses.close()
            return
        t = threading.Thread(target=lambda: self.client.cancel().result(), daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            print(f"[bench] job {self.cfg.scoring_job.group_id} not cancelled within {timeout_s:.0f}s; "
                  "going on (the JVM is stopped by pid at the end)", file=sys.stderr, flush=True)
        self.responses.close()


def gateway_pid() -> int | None:
    """The pid of the PyFlink gateway JVM, asked of that JVM; None if it is not ours."""
    from pyflink.java_gateway import get_gateway
    pid = int(get_gateway().jvm.java.lang.ProcessHandle.current().pid())
    return pid if _is_gateway(pid) else None


def _is_gateway(pid: int | None) -> bool:
    try:
        return bool(pid) and GATEWAY_MARKER in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _disconnect_gateway(timeout_s: float = 10.0) -> None:
    """Close py4j's side first: otherwise every Java object reference Python frees later (down
    to interpreter exit) tries the dead JVM and logs a traceback. Bounded, as a wedged JVM
    may not answer the shutdown command."""
    from pyflink.java_gateway import get_gateway
    t = threading.Thread(target=lambda: get_gateway().shutdown(), daemon=True)
    t.start()
    t.join(timeout_s)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_jvm(pid: int | None, log, timeout_s: float = 20.0) -> None:
    """Stop the gateway JVM this run launched, by pid (TERM, then KILL), and reap it.

    It would also exit when this process does (it watches its stdin), but only once this
    process is gone; a run stopped by a signal stops it here, before it reports."""
    if not _is_gateway(pid):
        return
    _disconnect_gateway()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        log(f"flink JVM (pid {pid}) ignored SIGTERM for {timeout_s:.0f}s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    log(f"flink JVM stopped (pid {pid})")
