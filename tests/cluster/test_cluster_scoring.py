"""The scoring job on the standalone session cluster: the MiniCluster's answers, and its caps
state through a savepoint and a rescale 1 → 2 (issue #16, item 4 and its Tests paragraph).

The same requests go to two scoring jobs reading the one request topic, each with its own
consumer group and answer topics: the job submitted with ``adstream job scoring --target
cluster --catalog FILE`` to the tier's cluster, and the job on Flink's embedded MiniCluster
(``adstream job scoring``, ``--target local``), which runs uninterrupted at parallelism 1
throughout. The cluster job answers two rounds at parallelism 1, is stopped with a savepoint
(``adstream job stop``), is resubmitted from it at parallelism 2 and answers two more. Every
request must be answered by both, with the same ranked ads (creatives, order, pCTR, eCPM,
price; not timings or ts) and the same model version and fallback flag.

Why the MiniCluster job and not the pure ``RequestScorer``: what is under test is that the
submitted job — code shipped in a zip, config as JSON, model registry and Redis read from
the TaskManager, caps state carried by a savepoint to other subtasks — answers as the job
everybody runs locally; the MiniCluster job is that reference, and an uninterrupted one is
what a rescaled run must equal. (The pure scorer's equality with the job's step is held by
tests/integration/test_scoring_batch_live.py.)

Caps, as tests/integration/test_rescale.py checks them on the MiniCluster: each campaign and
creative at most once per user and hour, one ad per request, so a user's four answers are
four different ads only if the caps counted before the savepoint reached the subtask that
owns the user at parallelism 2.
"""
from __future__ import annotations

import time

from tests.support import cluster_support as C
from tests.support import scoring_support as S
from tests.support.jobproc import kill_group, launch

CAPPED = 10   # users whose four one-ad answers are checked for caps


def _requests(tag: str, r: int) -> list:
    """Round ``r``: one one-ad request per capped user, then anonymous, unknown-user and
    page-context requests asking for more ads (their rankings are compared too)."""
    ts = S.T0 + r * 1000
    out = [S.request(f"{tag}-u{i}-r{r}", f"{tag}-u{i}", num_ads=1, ts=ts) for i in range(CAPPED)]
    return out + [S.request(f"anon-fr-r{r}", None, geo="FR", num_ads=4, ts=ts),
                  S.request(f"anon-page-r{r}", None, device="desktop", page="c2", num_ads=2, ts=ts),
                  S.request(f"ghost-r{r}", f"{tag}-ghost", device="desktop", page="c2", num_ads=3, ts=ts),
                  S.request(f"fan-r{r}", f"{tag}-fan", page="c1", num_ads=2, ts=ts)]


def _answered(sender: S.Client, waiters: list[S.Client], reqs: list, timeout_s: float = 240) -> None:
    for q in reqs:
        sender.send(q, key=q.user_id)
    ids = {q.request_id for q in reqs}
    for c in waiters:
        assert c.wait(lambda c: ids <= set(c.by_id()), timeout_s), \
            (c.cfg.kafka.topics.ranked_ads.name, sorted(ids - set(c.by_id()))[:5])


def _plain(resp) -> tuple:
    """What must be equal: the ranked ads and how they were ranked; not timings_ms or ts."""
    return (resp.model_version, resp.fallback, resp.fallback_reason, resp.variant,
            [(a.rank, a.creative_id, a.pctr, a.ecpm, a.price) for a in resp.ads])


def _setup(tmp_path):
    """A promoted model, the crafted catalogue, profiles in Feast, tight caps; the cluster's
    config and the MiniCluster job's (the same, but its own group, answer topics, checkpoints)."""
    from scripts.stack.control import create_topics
    from udfs import config
    registry = tmp_path / "models"
    version = S.train_model(registry, 1)
    cat = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    once = "[{window_s: 3600, limit: 1}]"
    # No feedback job runs, so the job's own answers are all the caps know: they count for the
    # reconcile window (an hour of request time). Rankings are under test, not read latency: a
    # loaded box's 20 ms Redis timeouts would turn answers contextual.
    cfg, sets, tag = S.job_config(tmp_path, registry=registry, catalog=None, **{
        "scoring.campaign_caps": once, "scoring.creative_caps": once,
        "scoring_job.caps_reconcile_ms": 3_600_000, "scoring_job.profile_timeout_ms": 1000})
    S.write_profiles(cfg, {f"{tag}-u{i}": [(i * 7, "view", f"c{1 + i % 2}"), (50, "cart", "c2")]
                           for i in range(CAPPED)}
                     | {f"{tag}-fan": [(0, "view", "c1"), (30, "cart", "c1"), (90, "purchase", "c1")]})
    mini = [*sets, *[f"kafka.topics.{t}.name={t}-{tag}-mini" for t in ("ranked_ads", "served_log", "dead_letter")],
            f"scoring_job.group_id=scoring-{tag}-mini", f"flink.checkpoint_dir={tmp_path}/ckpt-mini"]
    mini_cfg = config.load("test", overrides=mini)
    create_topics(mini_cfg)
    return cfg, sets, tag, mini_cfg, mini, cat, version


def test_scoring_on_the_cluster_answers_as_the_minicluster_and_caps_survive_a_rescale_to_2(cluster, tmp_path):
    cfg, sets, tag, mini_cfg, mini, cat, version = _setup(tmp_path)
    got, want = S.Client(cfg), S.Client(mini_cfg)
    local = launch("scoring", mini, "--catalog", str(cat), log=tmp_path / "mini.log")
    try:
        t0 = time.monotonic()
        job_id = C.submit([*sets, "flink.parallelism=1"], "scoring", "--catalog", str(cat))
        submit_s = time.monotonic() - t0
        assert C.parallelisms(cfg, job_id) == {1}
        sent = []
        for r in (0, 1):
            sent += _requests(tag, r)
            _answered(got, [got], sent[-CAPPED - 4:])
        location = C.stop(cfg, sets, job_id, tmp_path / "sp")
        t0 = time.monotonic()
        new_id = C.submit([*sets, "flink.parallelism=2"], "scoring", "--catalog", str(cat),
                          "--from-savepoint", location)
        resubmit_s = time.monotonic() - t0
        assert C.parallelisms(cfg, new_id) == {2}
        for r in (2, 3):
            sent += _requests(tag, r)
            _answered(got, [got], sent[-CAPPED - 4:])
        assert want.wait(lambda c: {q.request_id for q in sent} <= set(c.by_id()), 240), \
            f"the MiniCluster job left requests unanswered (log: {tmp_path / 'mini.log'})"
        C.stop(cfg, sets, new_id, tmp_path / "sp")
    finally:
        kill_group(local)
        got.close()
        want.close()
    cl, mc = got.by_id(), want.by_id()
    differ = {q.request_id: (_plain(cl[q.request_id]), _plain(mc[q.request_id])) for q in sent
              if _plain(cl[q.request_id]) != _plain(mc[q.request_id])}
    assert not differ, (f"{len(differ)} of {len(sent)} answers differ (cluster, MiniCluster)",
                        dict(list(differ.items())[:3]))
    personal = [cl[q.request_id] for q in sent if q.user_id and "ghost" not in q.user_id]
    # the TaskManager read the profiles from Redis and scored with the promoted model
    assert all(not a.fallback and a.model_version == version for a in personal), \
        [(a.request_id, a.fallback_reason, a.model_version) for a in personal][:5]
    for i in range(CAPPED):
        ads = [a.creative_id for r in range(4) for a in cl[f"{tag}-u{i}-r{r}"].ads]
        assert len(ads) == 4 and len(set(ads)) == 4, (i, ads)   # capped before stays capped after
    print(f"cluster submission {submit_s:.0f}s, resubmission at parallelism 2 {resubmit_s:.0f}s")
