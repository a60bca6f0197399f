"""Jobs on a real standalone Flink session cluster, submitted with ``flink run`` as a user does.

One cluster for the module (``adstream flink up`` on the test ports, stopped at the end if it
was not running before, by its pids only): status shows the TaskManager and its slots → the
profile job is submitted with ``adstream job profile --target cluster`` against the test
stack → a small stream is replayed → every profile in Redis equals the pure fold of its
events (``udfs.core.profile``, the same fold the MiniCluster tests compare with) → the job is
stopped with a savepoint through the REST API → resubmitted from it, it reads only what is
new (its ``applied`` counter, read through the REST API) and keeps what it had. Each test has
its own topics and users.
"""
from __future__ import annotations

import os
import subprocess
import urllib.request
import sys
import time
import uuid

import pytest

from udfs import config
from udfs.core import profile as P
from udfs.io import feast_store
from udfs.io.flink_rest import FlinkRest
from udfs.messages import ClickEvent, Consent

ROOT = config.ROOT
T0 = 1_764_547_200_000


@pytest.fixture(scope="module")
def cluster(stack):
    from scripts.flinkctl import control
    before = control.running(stack)
    control.up(stack)
    started = control.running(stack)
    yield stack
    if not before:
        control.down(stack)
        # only what we started is gone, and it is gone
        assert not any(os.path.exists(f"/proc/{pid}") and _cmdline(pid).find("flink/conf") >= 0
                       for pid in started.values())


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def adstream(sets: list[str], *args: str, timeout_s: float = 420) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scripts.cli", "--env", "test", *[x for s in sets for x in ("--set", s)], *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)


def job_config(stack, tmp_path, *extra: str):
    tag = uuid.uuid4().hex[:8]
    sets = [f"kafka.topics.clicks.name=clicks-{tag}", f"kafka.topics.dead_letter.name=dlq-{tag}",
            f"flink.checkpoint_dir={tmp_path}/ckpt", "flink.checkpoint_interval_ms=1000", *extra]
    cfg = config.load("test", overrides=sets)
    from scripts.stack.control import create_topics
    create_topics(cfg)
    feast_store.apply(cfg)
    return cfg, sets, tag


def click(uid, i, sec, type_="view", cat="c1"):
    return ClickEvent(event_id=f"{uid}-e{i}", user_id=uid, ts=T0 + int(sec * 1000), type=type_,
                      item_id=f"i{i}", category_id=cat, brand_id="b1", price=10.0 + i,
                      consent=Consent(personalisation=True, measurement=True))


def publish(cfg, events):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap, linger_ms=0)
    for e in events:
        p.send(cfg.kafka.topics.clicks.name, key=e.user_id.encode(), value=e.encode())
    p.flush()
    p.close()


def folded(events, cfg) -> dict:
    p = P.ProfileParams.from_config(cfg.profile.windows)
    return P.snapshot(P.build([P.EventView(e.ts, e.type, e.category_id, e.brand_id, e.price)
                               for e in events], p), p)


def same(got: dict, want: dict) -> list[str]:
    """The features that differ (floats to 1e-6)."""
    bad = []
    for k, w in want.items():
        g = got.get(k)
        if isinstance(w, float) or (isinstance(w, list) and w and isinstance(w[0], float)):
            ws, gs = (w, g) if isinstance(w, list) else ([w], [g])
            if g is None or len(gs) != len(ws) or any(abs(x - y) > 1e-6 for x, y in zip(gs, ws)):
                bad.append(k)
        elif g != w:
            bad.append(k)
    return bad


def test_status_submit_replay_profiles_equal_the_fold_then_stop_with_savepoint(cluster, tmp_path):
    from scripts.flinkctl import control
    st = control.status(cluster)
    c = cluster.flink.cluster
    assert st["answers"] and st["overview"]["taskmanagers"] == c.taskmanagers
    assert st["overview"]["slots-total"] == c.taskmanagers * c.slots_per_taskmanager
    assert set(st["pids"]) == {"jobmanager", *control.taskmanager_names(cluster)}

    cfg, sets, tag = job_config(cluster, tmp_path)
    t0 = time.monotonic()
    run = adstream(sets, "job", "profile", "--target", "cluster")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "running on the cluster" in run.stdout
    submit_s = time.monotonic() - t0
    job_id = run.stdout.split("submitted as job ")[1].split()[0]

    users = [f"{tag}-u{i}" for i in range(5)]
    events = {u: [click(u, j, 30 * j + i, ("view", "cart", "purchase")[(i + j) % 3], f"c{j % 3}")
                  for j in range(1 + i)] for i, u in enumerate(users)}
    publish(cfg, [e for evs in events.values() for e in evs])
    want = {u: folded(evs, cfg) for u, evs in events.items()}
    reader = feast_store.ProfileReader(cfg)
    rows, end = {}, time.monotonic() + 120
    while time.monotonic() < end:
        rows = dict(zip(users, reader.read_all(users)))
        if all(rows[u] and rows[u].get("last_event_ts") == want[u]["last_event_ts"] for u in users):
            break
        time.sleep(0.5)
    for u in users:
        assert rows[u], f"no profile for {u} within 120 s"
        assert not same(rows[u], want[u]), (u, same(rows[u], want[u]), rows[u], want[u])

    stop = adstream(sets, "job", "stop", job_id, "--dir", str(tmp_path / "sp"))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    location = stop.stdout.split("savepoint ")[-1].split()[0]
    assert (tmp_path / "sp").is_dir() and any((tmp_path / "sp").rglob("_metadata")), location
    rest = FlinkRest(c.rest_url)
    end = time.monotonic() + 60
    while rest.job(job_id)["state"] != "FINISHED" and time.monotonic() < end:
        time.sleep(0.5)
    assert rest.job(job_id)["state"] == "FINISHED"

    # resumed from that savepoint: only the new event is read (the offsets came back with the
    # state), and the user's profile holds the events before the stop too
    again = adstream(sets, "job", "profile", "--target", "cluster", "--from-savepoint", location)
    assert again.returncode == 0, again.stdout + again.stderr
    new_id = again.stdout.split("submitted as job ")[1].split()[0]
    u = users[-1]
    more = click(u, 99, 400, "purchase", "c1")
    publish(cfg, [more])
    want_u = folded(events[u] + [more], cfg)
    end = time.monotonic() + 120
    while time.monotonic() < end and reader.read_all([u])[0].get("last_event_ts") != want_u["last_event_ts"]:
        time.sleep(0.5)
    assert not same(reader.read_all([u])[0], want_u)
    applied, end = {}, time.monotonic() + 30   # the REST API refreshes metrics every ~10 s
    while time.monotonic() < end and list(applied.values()) != ["1"]:
        applied = {k: v for k, v in control.job_counters(rest, new_id).items() if k.endswith(".adstream.applied")}
        time.sleep(1)
    assert list(applied.values()) == ["1"], applied
    stop = adstream(sets, "job", "stop", new_id, "--dir", str(tmp_path / "sp"))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    print(f"submission took {submit_s:.0f}s")


def test_a_job_that_cannot_reach_its_broker_fails_with_its_reason_not_forever(cluster, tmp_path):
    """Nobody listens on the broker port: the tasks start, the Kafka source's metadata call times
    out (~1-2 min), and the bounded restart strategy ends the job FAILED; ``--follow`` exits 1
    naming Kafka's error. (0 restarts here to keep the test short; the count is config.)"""
    _cfg, sets, _tag = job_config(cluster, tmp_path)
    run = adstream([*sets, "kafka.port=1", "flink.restart_attempts=0"],
                   "job", "profile", "--target", "cluster", "--follow")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "running on the cluster" in run.stdout             # it did start ...
    err = run.stderr
    assert "FAILED: org.apache.flink.runtime.JobException: Recovery is suppressed by " \
           "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=0" in err, err
    assert "kafka" in err and "TimeoutException" in err, err  # ... and says why it stopped


def scrape(url: str, job_id: str) -> dict[str, list[float]]:
    """A Prometheus endpoint's ``adstream`` samples of one job: metric name → one value per subtask."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "_adstream_" in s.name and s.labels.get("job_id") == job_id:
                out.setdefault(s.name.split("_adstream_", 1)[1], []).append(s.value)
    return out


def test_the_taskmanager_serves_the_jobs_counters_and_freshness_to_prometheus(cluster, tmp_path):
    from scripts.flinkctl import control
    cfg, sets, tag = job_config(cluster, tmp_path)
    prom = control.prometheus_endpoints(cluster)
    lo, hi = cluster.flink.cluster.prometheus_range
    assert set(prom["bound"]) == {"jobmanager", *control.taskmanager_names(cluster)}, prom
    assert all(lo <= p <= hi for p in prom["bound"].values()), prom
    run = adstream(sets, "job", "profile", "--target", "cluster")
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.stdout.split("submitted as job ")[1].split()[0]

    # event times 5 s behind the wall clock: the freshness written must be at least that
    newest = time.time_ns() // 1_000_000 - 5_000
    users = [f"{tag}-m{i}" for i in range(4)]
    events = [ClickEvent(event_id=f"{u}-e{j}", user_id=u, ts=newest - 1_000 * (2 - j), type="view",
                         item_id=f"i{j}", category_id="c1", brand_id="b1", price=1.0,
                         consent=Consent(personalisation=True, measurement=True))
              for u in users for j in range(3)]
    publish(cfg, events)
    url = f"http://{prom['host']}:{prom['bound']['taskmanager-0']}/metrics"
    got, end = {}, time.monotonic() + 120
    while time.monotonic() < end and sum(got.get("applied", [])) != len(events):
        got = scrape(url, job_id)
        time.sleep(1)
    assert sum(got.get("applied", [])) == len(events), got
    assert sum(got["written"]) >= len(users) and sum(got["dead_letters"]) == 0, got
    fresh = max(got["freshness_ms"])
    assert 5_000 <= fresh < 120_000, got   # written within 2 min of its newest event
    print(f"scraped {url}: applied={sum(got['applied']):g} freshness_ms={fresh:g}")

    # the same through the REST API, as `adstream flink status` prints them (refreshed ~10 s)
    lines, end = "", time.monotonic() + 40
    while time.monotonic() < end and f".adstream.applied: {len(events)}" not in lines:
        st = adstream([], "flink", "status", timeout_s=60)
        assert st.returncode == 0, st.stdout + st.stderr
        lines = st.stdout
        time.sleep(2)
    job_lines = lines.split(job_id, 1)[1]
    assert f".adstream.applied: {len(events)}" in job_lines, lines
    shown = int(job_lines.split(".adstream.freshness_ms: ", 1)[1].split()[0])
    assert 5_000 <= shown < 120_000, lines
    assert f"taskmanager-0 {url}" in lines, lines
    stop = adstream(sets, "job", "stop", job_id, "--dir", str(tmp_path / "sp"))
    assert stop.returncode == 0, stop.stdout + stop.stderr
