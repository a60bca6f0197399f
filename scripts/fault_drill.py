"""Fault drill: bad records and faults against both live jobs on the drill's own stack.

Starts Kafka and Redis on free ports (stopped by pid at the end, also on Ctrl-C or
SIGTERM), the scoring benchmark's world (5,000 users with profiles, 100 creatives, a
promoted model), then the profile and scoring jobs as their own processes. Each
scenario injects one fault and then sends canaries — valid events for fresh users,
valid requests — and reports what became of everything it sent:

    sent                 records the scenario produced (poison and canaries)
    applied_or_answered  canary events found in Feast profiles / canary requests answered
    dead_lettered        dead letters that arrived meanwhile, by kind:field
    lost / duplicated    canary events missing or counted twice; requests unanswered or answered twice
    recovery_s           fault injected (or removed) → every canary landed; null when they never did
    job_running_after    both job processes alive and the canaries processed

    .venv/bin/python scripts/fault_drill.py --out .work/bench/fault_drill.json
    .venv/bin/python scripts/fault_drill.py --only poison --out /tmp/d.json   # a subset

A scenario whose canaries never land is reported with ``recovery_s: null`` and the
job's log tail, and the drill goes on to the next one.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import common as benchlib
from scripts.stack import control as stack  # noqa: E402
from scripts.drill import env as D  # noqa: E402
from scripts.drill import scenarios as X  # noqa: E402
from scripts.bench import scoring_world as W  # noqa: E402
from scripts.bench.scoring_load import Responses  # noqa: E402

CANARY_USERS, CANARY_EVENTS = 5, 4          # per scenario: 20 canary events
CANARY_REQUESTS = 20
WAIT_S = 90.0


class Drill:
    def __init__(self, cfg, sets: list[str], env: str, tmp: Path, world):
        self.cfg, self.sets, self.env, self.tmp, self.world = cfg, sets, env, tmp, world
        self.dlq = D.DeadLetters(cfg)
        self.sender = D.Sender(cfg)
        self.counts = D.Counts(cfg)
        self.responses = Responses(cfg)
        self.jobs: dict[str, D.JobProc] = {}
        self.n = 0

    # -- jobs -------------------------------------------------------------------------
    def start(self, name: str, *extra: str) -> None:
        self.jobs[name] = D.JobProc(name, self.env, self.sets, self.tmp / f"{name}.log", *extra)

    def running(self) -> bool:
        return all(j.alive() for j in self.jobs.values())

    # -- canaries ---------------------------------------------------------------------
    def canary_events(self, tag: str) -> dict[str, int]:
        users = [f"canary-{tag}-{i}" for i in range(CANARY_USERS)]
        t = D.now_ms()
        for u in users:
            for i in range(CANARY_EVENTS):
                self.sender.send(self.cfg.kafka.topics.clicks.name, D.click(u, i, t + i, tag), key=u)
        self.sender.flush()
        return {u: CANARY_EVENTS for u in users}

    def canary_requests(self, tag: str) -> list[str]:
        ids = [f"req-{tag}-{i}" for i in range(CANARY_REQUESTS)]
        for rid in ids:
            self.sender.send(self.cfg.kafka.topics.ad_requests.name, self.world.request(rid), key=rid)
        self.sender.flush()
        return ids

    def answered(self, ids: list[str], timeout_s: float) -> tuple[int, float | None]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            n = sum(self.responses.get(r) is not None for r in ids)
            if n == len(ids):
                return n, time.monotonic() - t0
            time.sleep(0.2)
        return sum(self.responses.get(r) is not None for r in ids), None

    def check(self, name: str, sent_extra: int, mark: int, t_fault: float, *, events: bool = True,
              requests: bool = True, note: str = "") -> dict:
        """Send canaries now and report the scenario (recovery counted from ``t_fault``)."""
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        want = self.canary_events(tag) if events else {}
        ids = self.canary_requests(tag) if requests else []
        got, t_ev = self.counts.wait(want, WAIT_S) if want else ({}, 0.0)
        n_ans, t_req = self.answered(ids, WAIT_S) if ids else (0, 0.0)
        lost_ev, dup_ev = D.lost_and_doubled(want, got)
        time.sleep(1.0)    # dead letters of records sent before the canaries: let them arrive
        landed = t_ev is not None and t_req is not None
        row = {"name": name, "sent": sent_extra + sum(want.values()) + len(ids),
               "applied_or_answered": sum(want.values()) - lost_ev + n_ans,
               "dead_lettered": sum(self.dlq.since(mark).values()), "dead_letter_reasons": self.dlq.since(mark),
               "lost": lost_ev + (len(ids) - n_ans), "duplicated": dup_ev + self._repeats(ids),
               "recovery_s": round(time.monotonic() - t_fault, 2) if landed else None,
               "job_running_after": self.running() and landed}
        if note:
            row["note"] = note
        if not landed:
            row["log_tail"] = {k: j.tail(15) for k, j in self.jobs.items()}
        return row

    def _repeats(self, ids: list[str]) -> int:
        return 0 if not ids else self.responses.repeats_of(set(ids))

    def close(self) -> None:
        for j in self.jobs.values():
            if j.alive():
                j.kill()
        self.responses.close()
        self.dlq.close()
        self.sender.close()


def run(a) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="adstream-drill-"))
    extra = [f"paths.model_registry={tmp}/models", f"scoring_job.catalog_file={tmp}/catalog.json",
             "flink.checkpoint_interval_ms=1000", "scoring_job.model_poll_ms=500",
             "scoring.campaign_caps=[{window_s: 3600, limit: 100000}]",
             "scoring.creative_caps=[{window_s: 3600, limit: 100000}]"]
    rows, t_start = [], time.time()
    with benchlib.own_stack(a.env, extra) as cfg:
        sets = [f"kafka.port={cfg.kafka.port}", f"kafka.controller_port={cfg.kafka.controller_port}",
                f"redis.port={cfg.redis.port}", f"paths.work_dir={cfg.paths.work_dir}",
                f"flink.checkpoint_dir={cfg.flink.checkpoint_dir}", *extra]
        log(f"stack on kafka :{cfg.kafka.port} redis :{cfg.redis.port}; world ...")
        world = W.build(cfg, tmp)
        d = Drill(cfg, sets, a.env, tmp, world)
        try:
            d.start("profile")
            d.start("scoring")
            log("jobs starting; waiting for the first canaries ...")
            rows.append(d.check("start", 0, d.dlq.mark(), time.monotonic()))
            log(f"  {rows[-1]}")
            for name, scenario in X.scenarios(a.only):
                log(f"{name} ...")
                try:
                    row = scenario(d)
                except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the rest
                    row = {"name": name, "error": f"{type(e).__name__}: {e}", "job_running_after": d.running()}
                rows.append(row)
                log("  " + json.dumps({k: v for k, v in row.items() if k != "log_tail"}))
        finally:
            d.close()
    return {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
            "duration_s": round(time.time() - t_start, 1), "load_avg_start": os.getloadavg()[0],
            "scenarios": rows,
            "all_ok": all(r.get("lost") == 0 and r.get("duplicated") == 0 and r.get("job_running_after")
                          for r in rows)}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="FILE.json", help="write the report here (and print a table)")
    p.add_argument("--only", default="", metavar="WORDS",
                   help="comma-separated words; run the scenarios whose name contains one (default: all)")
    p.add_argument("--env", default="test", help="config overlay for the drill's stack (default: test)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    a = p.parse_args(argv)
    if a.list:
        for name, _ in X.scenarios(a.only):
            print(name)
        return 0
    report = run(a)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(report, indent=2))
    print(table(report))
    return 0 if report["all_ok"] else 1


def table(report: dict) -> str:
    head = "| scenario | sent | applied/answered | dead-lettered | lost | duplicated | recovery s | running after |"
    out = [head, "|" + "---|" * 8]
    for r in report["scenarios"]:
        if "error" in r:
            out.append(f"| {r['name']} | drill error: {r['error']} | | | | | | {r['job_running_after']} |")
            continue
        out.append(f"| {r['name']} | {r['sent']} | {r['applied_or_answered']} | {r['dead_lettered']} | "
                   f"{r['lost']} | {r['duplicated']} | {r['recovery_s']} | {r['job_running_after']} |")
    return "\n".join(out)


if __name__ == "__main__":
    # SIGTERM unwinds (benchlib.own_stack turns it into an exception), so the stack stops.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise SystemExit(main())
