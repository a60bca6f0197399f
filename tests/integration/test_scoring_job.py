"""The scoring job on the real stack: Kafka → PyFlink (Feast, ONNX, catalogue) → ranked-ads.

Each test has its own topics, consumer group, checkpoint folder, model registry and
catalogue file (tests/support/scoring_support.py); the Redis test runs its own
Redis so the session stack is never disturbed.
"""
from __future__ import annotations

import collections
import json
import shutil
import threading
import time

import pytest

from tests.support import scoring_support as S
from tests.support.jobproc import kill_group, launch
from udfs import config
from udfs.io import feast_store
from udfs.core.featurize import AdView, Featurizer, RequestView

pytestmark = [pytest.mark.integration, pytest.mark.flink]


def pctr_of(cfg, version_dir, profile, creative: dict, req) -> float:
    """The model's pCTR for one crafted creative, computed outside the job."""
    from udfs.io.onnx_scorer import OnnxScorer
    f = Featurizer(cfg.profile.windows.count_windows_s)
    view = AdView(creative["creative_id"], creative["category_id"], creative["brand_id"],
                  creative["price"], cfg.scoring.fallback_prior_ctr)
    X = f.matrix(profile, [view], RequestView(req.ts, req.context.device, req.context.page_category, 1))
    return float(OnnxScorer(version_dir).score(X)[0])


def expected(bids: dict[str, tuple[str, float]], cpc: dict[str, tuple[str, float, float]], n: int,
             reserve: float = 0.5, per_adv: int = 2):
    """Hand formulas: CPM eCPM = bid; CPC eCPM = bid x pCTR x 1000; order eCPM desc; at most
    ``per_adv`` per advertiser; GSP price = max(next kept eCPM, reserve) / quality."""
    rows = [(b, 1.0, cid, adv) for cid, (adv, b) in bids.items()]
    rows += [(b * p * 1000, p * 1000, cid, adv) for cid, (adv, b, p) in cpc.items()]
    rows = sorted((r for r in rows if r[0] >= reserve), key=lambda r: (-r[0], r[2]))
    kept, per = [], collections.Counter()
    for r in rows:
        if per[r[3]] < per_adv:
            kept.append(r)
            per[r[3]] += 1
    out = []
    for i, (ecpm, quality, cid, _) in enumerate(kept[:n]):
        nxt = kept[i + 1][0] if i + 1 < len(kept) else reserve
        out.append((cid, ecpm, max(nxt, reserve) / quality))
    return out


def assert_ranking(resp, want):
    got = [(a.creative_id, a.ecpm, a.price) for a in resp.ads]
    assert [g[0] for g in got] == [w[0] for w in want], (got, want)
    for (_, ge, gp), (_, we, wp) in zip(got, want):
        assert ge == pytest.approx(we, rel=1e-5) and gp == pytest.approx(wp, rel=1e-5), (got, want)


CPM = {"crA1": ("A", 5.0), "crA2": ("A", 4.0), "crA3": ("A", 3.5), "crB1": ("B", 3.0), "crC1": ("C", 2.0),
       "crD1": ("D", 0.4)}


def test_crafted_requests_rank_exactly_catalogue_updates_live_and_bad_input_is_dead_lettered(stack, tmp_path):
    from jobs.scoring import start
    registry = tmp_path / "models"
    v1 = S.train_model(registry, 1)
    doc = S.crafted_catalog()
    cat = S.write_catalog(tmp_path / "catalog.json", doc)
    # Exact rankings are under test, not read latency: a loaded box's 20 ms Redis timeouts
    # would turn answers contextual (latency is the benchmarks' business).
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat,
                               **{"scoring.review.blocked_terms": "[casino]",
                                  "scoring_job.profile_timeout_ms": 1000})
    fan, ghost = f"{tag}-fan", f"{tag}-ghost"
    fan_events = [(0, "view", "c2"), (30, "cart", "c2"), (90, "view", "c2")]
    # identical twins of the fan for the probes below, so frequency caps never interfere
    S.write_profiles(cfg, {u: fan_events for u in [fan, *(f"{fan}-{i}" for i in range(1, 60))]})
    profile = feast_store.ProfileReader(cfg).read([fan])[0]
    d2 = next(c for c in doc["creatives"] if c["creative_id"] == "crD2")
    vdir = registry / v1

    client, c = start(cfg), S.Client(cfg)
    try:
        reqs = {"fan": S.request("fan", fan), "anon-fr": S.request("anon-fr", None, geo="FR", num_ads=4),
                "ghost": S.request("ghost", ghost, device="desktop", page="c2")}
        for r in reqs.values():
            c.send(r, key=r.user_id)
        c.send("{not json")
        c.send(json.dumps({"schema": "ad_request", "v": 1, "request_id": "bad-1", "user_id": fan,
                           "ts": S.T0, "slot": "s", "num_ads": 99}))
        assert c.wait(lambda c: set(reqs) | {"bad-1"} <= set(c.by_id()) and len(c.dead) >= 2), c.responses
        got = c.by_id()

        p_fan = pctr_of(cfg, vdir, profile, d2, reqs["fan"])
        assert_ranking(got["fan"], expected(CPM, {"crD2": ("D", 0.2, p_fan)}, 3))
        assert not got["fan"].fallback and got["fan"].model_version == v1
        assert {"features", "model", "total"} <= set(got["fan"].timings_ms)
        p_anon = pctr_of(cfg, vdir, None, d2, reqs["anon-fr"])
        assert_ranking(got["anon-fr"], expected({**CPM, "crC2": ("C", 8.0)}, {"crD2": ("D", 0.2, p_anon)}, 4))
        assert got["anon-fr"].fallback and "anonymous" in got["anon-fr"].fallback_reason
        p_ghost = pctr_of(cfg, vdir, None, d2, reqs["ghost"])
        assert_ranking(got["ghost"], expected(CPM, {"crD2": ("D", 0.2, p_ghost)}, 3))
        assert got["ghost"].fallback and "no profile" in got["ghost"].fallback_reason
        assert {k: r.request_id for k, r in c.responses if r.request_id in reqs} == \
            {k.encode(): k for k in reqs}                                   # keyed by request id

        dead = {d.field: (k, d) for k, d in c.dead}
        assert set(dead) == {"<payload>", "num_ads"} and dead["num_ads"][0] == b"bad-1"
        assert all(d.kind == "invalid" and d.source_topic == cfg.kafka.topics.ad_requests.name
                   for _, d in dead.values())
        assert got["bad-1"].ads == () and got["bad-1"].fallback
        # the served log: each decoded request's answer, keyed by request id, its ads as answered
        served = {k: log for k, log in c.served_logs(len(reqs)) if log.request_id in reqs}
        assert set(served) == {k.encode() for k in reqs}
        for log in served.values():
            assert [(a.creative_id, a.price) for a in log.ads] == \
                [(a.creative_id, a.price) for a in got[log.request_id].ads]
        assert served[b"fan"].model_version == v1 and served[b"fan"].ads[0].features

        # live catalogue changes: pause cA1, a new advertiser's creative (reviewed on arrival),
        # and one the review rejects for a blocked term — no restart
        c.publish_change("campaign:cA1", {**S.campaign("cA1", "A", bid=5.0), "status": "paused"})
        c.publish_change("advertiser:E", {"advertiser_id": "E"})
        c.publish_change("campaign:cE1", S.campaign("cE1", "E", bid=4.5))
        c.publish_change("creative:crE1", S.creative("crE1", "cE1", "E", review_status="pending"))
        c.publish_change("campaign:cE2", S.campaign("cE2", "E", bid=7.0))
        c.publish_change("creative:crE2", S.creative("crE2", "cE2", "E", review_status="pending",
                                                     title="Casino bonus"))
        changed = {k: v for k, v in CPM.items() if k != "crA1"} | {"crE1": ("E", 4.5)}
        want = expected(changed, {"crD2": ("D", 0.2, p_fan)}, 3)
        t0, i = time.monotonic(), 0
        while True:
            i += 1
            c.send(S.request(f"after-{i}", f"{fan}-{i % 59 + 1}"))
            assert c.wait(lambda c: f"after-{i}" in c.by_id(), 30)
            ads = [a.creative_id for a in c.by_id()[f"after-{i}"].ads]
            if ads == [w[0] for w in want] or time.monotonic() - t0 > 20:
                break
            time.sleep(0.3)
        print(f"catalogue changes visible after {time.monotonic() - t0:.2f}s ({i} probes)")
        assert_ranking(c.by_id()[f"after-{i}"], want)
        assert time.monotonic() - t0 < 20, f"catalogue changes took {i} requests"
    finally:
        client.cancel().result()
        c.close()


def _stream(c: S.Client, user_of, rate: float, stop: threading.Event, sent: list) -> None:
    i = 0
    while not stop.is_set():
        rid = f"s{i:05d}"
        c.send(S.request(rid, user_of(i)))
        sent.append((rid, time.monotonic()))
        i += 1
        time.sleep(1.0 / rate)


def test_hot_reload_switches_version_without_gap_or_duplicate(stack, tmp_path):
    from jobs.scoring import start
    from models.jsonio import write_json
    from models.registry import Registry
    from udfs.errors import ModelError
    from udfs.core.model_store import POINTER
    registry = tmp_path / "models"
    v1 = S.train_model(registry, 1)
    v2 = S.train_model(registry, 2, promote=False)
    # A third version whose ONNX file went bad after registration (the registry refuses to
    # register or promote a broken file): a `current` pointing at it must change nothing.
    broken = tmp_path / "broken"
    shutil.copytree(registry / v2, broken, ignore=shutil.ignore_patterns("holdout.parquet"))
    v3 = Registry(registry).add(broken).version
    (registry / v3 / "model.onnx").write_bytes(b"this is not an onnx graph")
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    # The switch is under test, not read latency: a loaded box must not turn answers contextual.
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat,
                               **{"scoring_job.profile_timeout_ms": 1000})
    users = [f"{tag}-u{i}" for i in range(10)]
    S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})

    client, c = start(cfg), S.Client(cfg)
    stop, sent = threading.Event(), []
    try:
        c.send(S.request("warm", users[0]))
        assert c.wait(lambda c: "warm" in c.by_id(), 120)
        sender_client = S.Client(cfg)
        t = threading.Thread(target=_stream, args=(sender_client, lambda i: users[i % 10], 40, stop, sent))
        t.start()
        time.sleep(4)
        S.promote_version(registry, v2)
        promoted_v2 = time.monotonic()
        time.sleep(5)
        with pytest.raises(ModelError, match="not overridable"):
            S.promote_version(registry, v3)                          # even forced
        ptr = Registry(registry).pointer()                           # so point at it past the registry
        write_json(registry / POINTER, {**ptr, "version": v3, "previous": ptr["previous"] + [ptr["version"]]})
        pointed_v3_ms = time.time_ns() // 1_000_000
        time.sleep(4)
        stop.set()
        t.join()
        sender_client.close()
        ids = [rid for rid, _ in sent]
        assert c.wait(lambda c: set(ids) <= set(c.by_id()), 60)
        counts = collections.Counter(r.request_id for _, r in c.responses)
        assert all(counts[i] == 1 for i in ids), "a request was answered twice"
        versions = [c.by_id()[i].model_version for i in ids]
        switch = versions.index(v2)
        assert set(versions[:switch]) == {v1} and set(versions[switch:]) == {v2}, versions
        assert sent[switch][1] - promoted_v2 < 3.0                     # picked up within seconds
        # Before the broken pointer: full answers. Once the job has seen it (a poll: 200 ms in
        # the test config, plus a margin): still v2, but flagged — the promoted model is not serving.
        # Told apart by when each answer was made (its ts, the job's clock), not when its request
        # was sent: a request sent just before the pointer moved may be ranked after the poll saw it.
        before = [c.by_id()[i] for i in ids if c.by_id()[i].ts < pointed_v3_ms]
        after = [c.by_id()[i] for i in ids if c.by_id()[i].ts > pointed_v3_ms + 2000]
        assert before and after
        assert not any(r.fallback for r in before), [(r.request_id, r.fallback_reason) for r in before if r.fallback]
        assert all(r.fallback and "could not be loaded" in r.fallback_reason for r in after), \
            [(r.request_id, r.fallback_reason) for r in after if not r.fallback]
    finally:
        stop.set()
        client.cancel().result()
        c.close()


def test_redis_stopped_mid_run_every_request_is_answered_and_flagged(stack, tmp_path):
    from jobs.scoring import start
    from scripts.stack import control as st
    from scripts.bench.common import free_port
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, _, tag = S.job_config(tmp_path, registry=registry, catalog=cat, apply=False, **{
        "paths.work_dir": str(tmp_path / "work"), "redis.port": free_port(),
        "scoring_job.breaker_cooldown_ms": 500,
        # a stopped Redis refuses at once; the budget only keeps a loaded box's slow reads unflagged
        "scoring_job.profile_timeout_ms": 1000})
    st.redis_up(cfg)
    try:
        feast_store.apply(cfg)
        users = [f"{tag}-u{i}" for i in range(50)]     # one request each: caps never bind
        S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})
        client, c = start(cfg), S.Client(cfg)
        try:
            c.send(S.request("warm", users[0]))
            assert c.wait(lambda c: "warm" in c.by_id(), 120)
            before = [S.request(f"up-{i}", users[1 + i]) for i in range(10)]
            for r in before:
                c.send(r)
            assert c.wait(lambda c: all(r.request_id in c.by_id() for r in before), 60)
            assert not any(c.by_id()[r.request_id].fallback for r in before)

            st.down(cfg)                                    # only this test's Redis
            during = [S.request(f"down-{i}", users[11 + i]) for i in range(30)]
            for r in during:
                c.send(r)
                time.sleep(0.05)
            assert c.wait(lambda c: all(r.request_id in c.by_id() for r in during), 60)
            got = [c.by_id()[r.request_id] for r in during]
            assert all(g.fallback and "feature store" in g.fallback_reason and g.ads for g in got), \
                [(g.request_id, g.fallback_reason, len(g.ads)) for g in got
                 if not (g.fallback and "feature store" in g.fallback_reason and g.ads)]
            assert max(g.timings_ms["total"] for g in got) < 200   # bounded, not hung on Redis

            st.redis_up(cfg)                                # back (empty: persistence is off)
            S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})
            t0, i = time.monotonic(), 0
            while time.monotonic() - t0 < 20:
                i += 1
                c.send(S.request(f"back-{i}", users[41 + i % 9]))
                assert c.wait(lambda c: f"back-{i}" in c.by_id(), 30)
                if not c.by_id()[f"back-{i}"].fallback:
                    break
                time.sleep(0.5)
            assert not c.by_id()[f"back-{i}"].fallback, "personal ranking did not resume"
        finally:
            client.cancel().result()
            c.close()
    finally:
        st.down(cfg)




@pytest.mark.slow
def test_kill_and_resume_from_checkpoint_answers_every_request(stack, tmp_path):
    """SIGKILL mid-stream after a checkpoint, requests keep coming while it is down, --resume:
    every request gets an answer (a repeat is allowed, a gap is not)."""
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg, sets, tag = S.job_config(tmp_path, registry=registry, catalog=cat)
    users = [f"{tag}-u{i}" for i in range(10)]
    S.write_profiles(cfg, {u: [(0, "view", "c2")] for u in users})
    c, sender = S.Client(cfg), S.Client(cfg)
    stop, sent = threading.Event(), []
    t = threading.Thread(target=_stream, args=(sender, lambda i: users[i % 10], 20, stop, sent))
    job = launch("scoring", sets, log=tmp_path / "first.log")
    try:
        t.start()
        ckpts = tmp_path / "ckpt"
        assert c.wait(lambda c: len(c.responses) >= 20 and list(ckpts.glob("*/*/chk-*/_metadata")), 180)
        time.sleep(1.5)
        kill_group(job)
        time.sleep(3)                                 # requests arrive while nobody answers
        job = launch("scoring", sets, "--resume", log=tmp_path / "resumed.log")
        time.sleep(5)
        stop.set()
        t.join()
        ids = [rid for rid, _ in sent]
        assert c.wait(lambda c: set(ids) <= set(c.by_id()), 180), \
            sorted(set(ids) - set(c.by_id()))[:10]
        assert b"restoring from" in (tmp_path / "resumed.log").read_bytes()
    finally:
        stop.set()
        kill_group(job)
        c.close()
        sender.close()
