"""The fault drill's scenarios: each injects one fault into the running jobs, then calls
``Drill.check`` which sends canaries and reports what became of them.

Poison classes are sent to both jobs' input topics; every other scenario breaks one
component (broker, Redis, a job process, the model registry, the catalogue topic).
"""
from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Callable, Iterator

from scripts.drill import env as D
from scripts.stack import control as stack
from udfs.core import model_store

TEN_YEARS_MS = 10 * 365 * 86_400_000
WAIT_REPAIR_S = 60.0      # how long a profile may be missing after Redis comes back empty


def _click(**over) -> dict:
    d = json.loads(D.click("poison-user", 0, D.now_ms(), f"p{random.random()}"))
    d.update(over)
    return d


def _request(**over) -> dict:
    d = {"schema": "ad_request", "v": 1, "request_id": f"poison-{random.random()}", "user_id": "bench-u00001",
         "ts": D.now_ms(), "slot": "feed", "num_ads": 4, "context": {"device": "mobile"}}
    d.update(over)
    return d


def _enc(d: dict) -> bytes:
    return json.dumps(d).encode()


def poisons(base: Callable[..., dict]) -> dict[str, bytes | None]:
    """One record of each class of bad input, built on a valid record of the topic's format."""
    rnd = random.Random(7)
    ctrl = b"\x01" * 700_000
    ok = _enc(base())
    return {
        "huge_integer": _enc(base(price=10 ** 400)) if "price" in base() else _enc(base(num_ads=10 ** 400)),
        "ts_int64_max": _enc(base(ts=2 ** 63 - 1)),
        "ts_2_80": _enc(base(ts=2 ** 80)),
        "ts_ten_years_ahead": _enc(base(ts=D.now_ms() + TEN_YEARS_MS)),
        "deep_nesting": b"[" * 100_000 + b"]" * 100_000,
        "control_chars_700kb": ok[:-1] + b', "junk": "' + ctrl + b'"}',
        "null_value": None,
        "empty_value": b"",
        "not_utf8": ok.replace(b'"mobile"', b'"mob\xff\xfeile"'),
        "float_version": _enc(base(v=1.0)),
        "bool_version": _enc(base(v=True)),
        "nan": _enc(base(ts=float("nan"))),
        "wrong_types": _enc(base(user_id=123, slot=["x"], type=["view"])),
        "random_bytes": bytes(rnd.getrandbits(8) for _ in range(300)),
        "json_scalar": b"42",
    }


def poison(topic_of: Callable, base: Callable[..., dict], job: str):
    def run(d) -> dict:
        topic = topic_of(d.cfg)
        rows = []
        for cls, value in poisons(base).items():
            mark, t0 = d.dlq.mark(), time.monotonic()
            d.sender.send(topic, value, key="poison-user")
            d.sender.flush()
            # canaries of the poisoned job's own input (events for the profile job, requests for scoring)
            row = d.check(f"{job}_poison_{cls}", 1, mark, t0, events=job == "profile",
                          requests=job == "scoring")
            rows.append(row)
        return _merge(f"{job}_poison", rows)
    return run


def _merge(name: str, rows: list[dict]) -> dict:
    """One row for a family of sub-scenarios; each sub-row is kept under ``cases``."""
    sums = {k: sum(r[k] for r in rows) for k in ("sent", "applied_or_answered", "dead_lettered", "lost",
                                                  "duplicated")}
    rec = [r["recovery_s"] for r in rows]
    return {"name": name, **sums, "recovery_s": None if None in rec else max(rec),
            "job_running_after": all(r["job_running_after"] for r in rows), "cases": rows}


def _send_clicks(d, users: list[str], indices: range, t: int, tag: str, pause_s: float = 0.0) -> None:
    """Event ``i`` of ``indices`` for user ``i mod len(users)``, at event time ``t + i``; flushed."""
    for i in indices:
        u = users[i % len(users)]
        d.sender.send(d.cfg.kafka.topics.clicks.name, D.click(u, i, t + i, tag), key=u)
        if pause_s:
            time.sleep(pause_s)
    d.sender.flush()


def _settled(d, name: str, want: dict[str, int], wait_s: float, sent: int, mark, t_back: float, *,
             checked: int | None = None, **check) -> tuple[dict, dict[str, int]]:
    """Wait until the profiles hold ``want`` events per user (or ``wait_s``), run the canary
    check, and fold the ``sent`` events lost or applied twice into its row; also what each
    user's profile counted. ``checked``: the count the check reports, when it is not ``sent``."""
    got, _ = d.counts.wait(want, wait_s)
    lost, dup = D.lost_and_doubled(want, got)
    row = d.check(name, sent if checked is None else checked, mark, t_back, **check)
    row.update(applied_or_answered=row["applied_or_answered"] + sent - lost, lost=row["lost"] + lost,
               duplicated=row["duplicated"] + dup)
    return row, got


def broker_kill(d) -> dict:
    """kill -9 the broker for 20 s while events keep coming; restart it on the same log dir."""
    users = [f"bk-{i}" for i in range(20)]
    want = {u: 0 for u in users}
    t = D.now_ms()
    mark = d.dlq.mark()
    pid = stack.pid_of(d.cfg, "kafka")
    for i in range(400):
        if i == 100:
            os.kill(pid, signal.SIGKILL)
            t_kill = time.monotonic()
        if i == 300:
            time.sleep(max(0.0, 20 - (time.monotonic() - t_kill)))
            stack.kafka_up(d.cfg)
            t_back = time.monotonic()
        u = users[i % 20]
        d.sender.send(d.cfg.kafka.topics.clicks.name, D.click(u, i, t + i, "bk"), key=u)
        want[u] += 1
        if i < 100 or i >= 300:
            time.sleep(0.01)
    d.sender.flush()
    row, _ = _settled(d, "broker_kill", want, 180, 400, mark, t_back)
    row["outage_s"] = round(t_back - t_kill, 1)
    return row


def profile_kill_resume(d) -> dict:
    """kill -9 the profile job after a checkpoint; events arrive while it is down; --resume."""
    users = [f"kr-{i}" for i in range(20)]
    mark, t = d.dlq.mark(), D.now_ms()
    _send_clicks(d, users, range(600), t, "kr")
    d.counts.wait({u: 30 for u in users}, 60)
    time.sleep(2.5)                                     # a checkpoint after those (interval 1 s)
    d.jobs["profile"].kill()
    _send_clicks(d, users, range(600, 1200), t, "kr")
    t_back = time.monotonic()
    d.start("profile", "--resume")
    row, _ = _settled(d, "profile_kill_resume", {u: 60 for u in users}, 180, 1200, mark, t_back,
                      requests=False)
    return row


def redis_restart(d) -> dict:
    """Redis stopped and started empty (no persistence): idle users' profiles must come back."""
    users = [f"rr-{i}" for i in range(25)]
    mark, t = d.dlq.mark(), D.now_ms()
    _send_clicks(d, users, range(100), t, "rr")
    d.counts.wait({u: 4 for u in users}, 60)
    stack.down_service(d.cfg, "redis")
    time.sleep(3)
    stack.redis_up(d.cfg)               # empty: the local stack runs Redis without persistence
    t_back = time.monotonic()
    # the idle users send nothing more: only a repair from Flink state can bring them back
    row, got = _settled(d, "redis_restart", {u: 4 for u in users}, WAIT_REPAIR_S, 100, mark, t_back)
    row["idle_profiles_restored"] = sum(got.get(u) == 4 for u in users)
    return row


def redis_stop(d) -> dict:
    """Redis stopped for 10 s while events and requests keep coming, then started empty:
    every request answered (flagged), every event applied once Redis is back (the profile
    job's writes wait and retry instead of failing it), earlier users' profiles repaired."""
    users = [f"rs-{i}" for i in range(20)]
    mark, t = d.dlq.mark(), D.now_ms()
    _send_clicks(d, users, range(100), t, "rs")
    d.counts.wait({u: 5 for u in users}, 60)
    stack.down_service(d.cfg, "redis")
    t_down = time.monotonic()
    _send_clicks(d, users, range(100, 300), t, "rs", pause_s=0.02)
    ids = d.canary_requests(f"rs-{random.random()}")
    time.sleep(max(0.0, 10 - (time.monotonic() - t_down)))
    stack.redis_up(d.cfg)
    t_back = time.monotonic()
    n, _ = d.answered(ids, 60)
    flagged = sum(bool((d.responses.get(r) or (0, {}))[1].get("fallback")) for r in ids)
    row, _ = _settled(d, "redis_stop", {u: 15 for u in users}, WAIT_REPAIR_S, 300, mark, t_back,
                      checked=300 + len(ids))
    row.update(applied_or_answered=row["applied_or_answered"] + n, lost=row["lost"] + len(ids) - n,
               outage_s=round(t_back - t_down, 1), answered_during_outage_flagged=flagged)
    return row


def redis_pause(d) -> dict:
    """SIGSTOP Redis for 5 s while requests arrive: every request answered (flagged)."""
    mark, pid = d.dlq.mark(), stack.pid_of(d.cfg, "redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        ids = d.canary_requests(f"rp-{random.random()}")
        time.sleep(5)
    finally:
        os.kill(pid, signal.SIGCONT)
    t_back = time.monotonic()
    n, took = d.answered(ids, 60)
    row = d.check("redis_pause", len(ids), mark, t_back)
    flagged = sum(bool((d.responses.get(r) or (0, {}))[1].get("fallback")) for r in ids)
    row.update(applied_or_answered=row["applied_or_answered"] + n, lost=row["lost"] + len(ids) - n,
               answered_during_pause_flagged=flagged)
    return row


def corrupt_model(d) -> dict:
    """The registry's current pointer moved to a version whose ONNX file is garbage."""
    from models.registry import Registry
    reg = Registry(d.cfg.path("model_registry"))
    good = reg.current()
    bad = Path(reg.root) / "v9999-corrupt"
    bad.mkdir()
    for f in (reg.root / good).iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    (bad / model_store.MODEL).write_bytes(b"\x08\x07garbage" * 100)
    pointer = reg.root / model_store.POINTER
    saved = pointer.read_text()
    doc = json.loads(saved)
    doc["version"] = bad.name
    pointer.write_text(json.dumps(doc))
    mark, t0 = d.dlq.mark(), time.monotonic()
    try:
        time.sleep(2)                                   # > model_poll_ms: the job has tried it
        row = d.check("corrupt_model", 0, mark, t0, events=False)
        ids = [r for r in d.responses.seen if r.startswith("req-corrupt_model")]
        versions = {(d.responses.get(r) or (0, {}))[1].get("model_version") for r in ids}
        row["served_versions"] = sorted(v for v in versions if v)
        row["kept_good_model"] = row["served_versions"] == [good]
        # answers ranked by the kept model say the promoted one failed to load
        row["answers_flagged_model_stale"] = sum(
            "could not be loaded" in ((d.responses.get(r) or (0, {}))[1].get("fallback_reason") or "")
            for r in ids)
    finally:
        pointer.write_text(saved)
    return row


def catalog_flood(d) -> dict:
    """600 invalid catalogue records (warnings and rejections), then a fresh scoring job on them."""
    mark, t0 = d.dlq.mark(), time.monotonic()
    for i in range(600):
        d.sender.send(d.cfg.kafka.topics.catalog.name, json.dumps({"campaign_id": f"bad{i}", "bid": -1,
                                                                    "junk": "x" * 500}), key=f"campaign:bad{i}")
    d.sender.flush()
    # The live job emits catalogue dead letters with the requests that follow its poll: keep
    # sending canary requests until all 600 are out (or five rounds went by).
    rows = [d.check("catalog_flood_live", 600, mark, t0, events=False)]
    while sum(d.dlq.since(mark).values()) < 600 and len(rows) < 5:
        time.sleep(1.0)
        rows.append(d.check("catalog_flood_live_more", 0, d.dlq.mark(), t0, events=False))
    row = _merge("catalog_flood_live", rows)
    row["dead_letter_reasons"] = d.dlq.since(mark)
    row["dead_lettered"] = sum(row["dead_letter_reasons"].values())
    d.jobs["scoring"].kill()
    t1 = time.monotonic()
    d.start("scoring")
    again = d.check("catalog_flood_fresh_start", 0, d.dlq.mark(), t1, events=False)
    return _merge("catalog_flood", [row, again])


def scenarios(only: str = "") -> Iterator[tuple[str, Callable]]:
    table = [
        ("profile_poison", poison(lambda c: c.kafka.topics.clicks.name, _click, "profile")),
        ("scoring_poison", poison(lambda c: c.kafka.topics.ad_requests.name, _request, "scoring")),
        ("catalog_flood", catalog_flood),
        ("corrupt_model", corrupt_model),
        ("redis_pause", redis_pause),
        ("redis_restart", redis_restart),
        ("redis_stop", redis_stop),
        ("profile_kill_resume", profile_kill_resume),
        ("broker_kill", broker_kill),
    ]
    words = [w for w in only.split(",") if w]
    for name, fn in table:
        if not words or any(w in name for w in words):
            yield name, fn
