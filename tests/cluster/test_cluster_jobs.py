"""The profile job on a real standalone Flink session cluster, submitted with ``flink run`` as a
user does, and rescaled there through a savepoint (issue #16, item 4).

The tier's cluster (tests/cluster/conftest.py): status shows the TaskManager and its slots →
the profile job is submitted at parallelism 1 with ``adstream job profile --target cluster``
against the test stack → the first part of a stream is replayed and lands: every profile in
Redis equals the pure fold of its events (``udfs.core.profile``, the fold the MiniCluster
tests compare with) → ``adstream job stop`` takes a savepoint → the job is resubmitted from it
at parallelism 2 → the rest of the stream and repeats of first-part events are replayed →
every user's profile equals the fold of all their events (an uninterrupted run's), every
repeat is a duplicate, and the job applied only what was new (its ``applied`` counter,
through the REST API). Both hold only if each user's profile and dedupe state reached the
subtask that owns the user at parallelism 2. Also: a job whose broker nobody answers ends
FAILED, and the TaskManager's Prometheus endpoint serves the job's counters and freshness.
Each test has its own topics and users.
"""
from __future__ import annotations

import json
import time
import urllib.request

from tests.support import cluster_support as C
from tests.support.profile_support import click, dead_letters, expected, job_config, landed, publish
from udfs.io import feast_store
from udfs.messages import ClickEvent, Consent

USERS, EVENTS, REPEATS = 40, 1000, 20


def test_status_then_profile_job_rescaled_1_to_2_through_a_savepoint_equals_the_fold(cluster, tmp_path):
    from scripts.flinkctl import control
    st = control.status(cluster)
    c = cluster.flink.cluster
    assert st["answers"] and st["overview"]["taskmanagers"] == c.taskmanagers
    assert st["overview"]["slots-total"] == c.taskmanagers * c.slots_per_taskmanager >= 2
    assert set(st["pids"]) == {"jobmanager", *control.taskmanager_names(cluster)}

    cfg, sets, tag = job_config(cluster, tmp_path)
    users = [f"{tag}-u{i}" for i in range(USERS)]
    # In event-time order: lateness depends on when watermarks travel, which a restart resets.
    events = [click(users[i % USERS], i, i * 0.5, ["view", "cart", "fav", "purchase"][i % 7 % 4],
                    cat=f"c{i % 6}") for i in range(EVENTS)]
    first, second = events[:EVENTS // 2], events[EVENTS // 2:]
    repeats = first[-REPEATS:]   # event ids the restored dedupe state must know
    reader = feast_store.ProfileReader(cfg)

    t0 = time.monotonic()
    job_id = C.submit([*sets, "flink.parallelism=1"], "profile")
    submit_s = time.monotonic() - t0
    assert C.parallelisms(cfg, job_id) == {1}
    publish(cfg, [(e.user_id, e.encode().decode()) for e in first])
    want_first = {u: expected([e for e in first if e.user_id == u], cfg) for u in users}
    assert not landed(reader, users, want_first, timeout_s=120), "the first part never landed at parallelism 1"
    location = C.stop(cfg, sets, job_id, tmp_path / "sp")

    new_id = C.submit([*sets, "flink.parallelism=2"], "profile", "--from-savepoint", location)
    assert C.parallelisms(cfg, new_id) == {2}
    publish(cfg, [(e.user_id, e.encode().decode()) for e in [*repeats, *second]])
    want = {u: expected([e for e in events if e.user_id == u], cfg) for u in users}
    bad = landed(reader, users, want, timeout_s=120)
    assert not bad, (f"{len(bad)} of {USERS} users differ from the fold of their events after the "
                     "rescale to 2 on the cluster", dict(list(bad.items())[:3]))
    dups = {json.loads(d.original)["event_id"] for d in dead_letters(cfg, expect=REPEATS)
            if d.kind == "duplicate"}
    assert dups == {e.event_id for e in repeats}
    # the offsets came back with the state: only the second part was read anew and applied
    assert C.counter(cfg, new_id, "applied", len(second)) == len(second)
    C.stop(cfg, sets, new_id, tmp_path / "sp")
    print(f"first submission took {submit_s:.0f}s")


def test_a_job_that_cannot_reach_its_broker_fails_with_its_reason_not_forever(cluster, tmp_path):
    """Nobody listens on the broker port: the tasks start, the Kafka source's metadata call times
    out (~1-2 min), and the bounded restart strategy ends the job FAILED; ``--follow`` exits 1
    naming Kafka's error. (0 restarts here to keep the test short; the count is config.)"""
    _cfg, sets, _tag = job_config(cluster, tmp_path)
    run = C.adstream([*sets, "kafka.port=1", "flink.restart_attempts=0"],
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
    job_id = C.submit(sets, "profile")

    # event times 5 s behind the wall clock: the freshness written must be at least that
    newest = time.time_ns() // 1_000_000 - 5_000
    users = [f"{tag}-m{i}" for i in range(4)]
    events = [ClickEvent(event_id=f"{u}-e{j}", user_id=u, ts=newest - 1_000 * (2 - j), type="view",
                         item_id=f"i{j}", category_id="c1", brand_id="b1", price=1.0,
                         consent=Consent(personalisation=True, measurement=True))
              for u in users for j in range(3)]
    publish(cfg, [(e.user_id, e.encode().decode()) for e in events])
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
        st = C.adstream([], "flink", "status", timeout_s=60)
        assert st.returncode == 0, st.stdout + st.stderr
        lines = st.stdout
        time.sleep(2)
    job_lines = lines.split(job_id, 1)[1]
    assert f".adstream.applied: {len(events)}" in job_lines, lines
    shown = int(job_lines.split(".adstream.freshness_ms: ", 1)[1].split()[0])
    assert 5_000 <= shown < 120_000, lines
    assert f"taskmanager-0 {url}" in lines, lines
    C.stop(cfg, sets, job_id, tmp_path / "sp")
