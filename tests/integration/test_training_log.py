"""The training log on the real stack: feedback job → training-log topic → parquet store → readers.

Every attributed impression gets one labelled row once its click window has closed, with the
exact float32 feature row the served log carried; a conversion after that writes a higher
revision; the direct reader and Feast's ``get_historical_features`` both see the latest
labels; a record on the topic that is no training row becomes a dead letter. Event times are
the wall clock's, as in test_feedback_job.py (whose helpers this uses)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tests.integration.test_feedback_job import USER, Feed, click, imp, job_config
from tests.support.jobproc import kill_group, launch
from udfs.messages import Conversion, ServedAd, ServedLog
from udfs.messages.served import CHARGED_ON, charge_of

pytestmark = [pytest.mark.integration, pytest.mark.flink]

def row_of(rank):
    return tuple(float(np.float32(v)) for v in (rank / 7.0, -1.0 / rank, 3e-8, 12345.678))


def served(rid, ts, tag, features=True):
    ads = tuple(ServedAd(ad_id=f"a-{c}", campaign_id=f"cm-{c}", creative_id=c, advertiser_id="adv", rank=r,
                         bid_type=bt, bid=p, pctr=0.01 * r, ecpm=1.0, price=p, charged_on=CHARGED_ON[bt],
                         charge=charge_of(bt, p), features=row_of(r) if features else ())
                for r, c, bt, p in ((1, f"cpm-{tag}", "CPM", 3.0), (2, f"cpc-{tag}", "CPC", 0.4),
                                    (3, f"cpa-{tag}", "CPA", 5.0)))
    return ServedLog(request_id=rid, user_id=USER, ts=ts, slot="home", model_version="v-tl", variant="B",
                     feature_set="fs-tl" if features else "", ads=ads)


def test_labelled_rows_land_in_parquet_and_feast_reads_the_latest_revision(stack, tmp_path):
    # a 20 s click window and 10 s lateness: rows are due 30 s of event time after their impression
    cfg, sets, tag = job_config(tmp_path, **{"model.click_window_s": 20, "feedback.allowed_lateness_ms": 10000,
                                             "feedback.training_log": f"file://{tmp_path}/training_log"})
    f = Feed(cfg)
    t0 = int(time.time() * 1000) - 10_000
    cpm, cpc, cpa = f"cpm-{tag}", f"cpc-{tag}", f"cpa-{tag}"
    job = launch("feedback", sets, log=tmp_path / "job.log")
    try:
        f.send("served_log", served("r1", t0, tag))
        for iid, cr in (("i1", cpm), ("i2", cpc), ("i3", cpa)):
            f.send("impressions", imp(iid, cr, t0 + 100))
        f.send("ad_clicks", click("k2", "i2", cpc, t0 + 2_000))
        f.send("ad_clicks", click("k3", "i3", cpa, t0 + 3_000))
        f.send("conversions", Conversion(conversion_id="v3", impression_id="i3", click_id="k3", user_id=USER,
                                         campaign_id=f"cm-{cpa}", ts=t0 + 5_000, value=20.0))
        time.sleep(cfg.profile.idle_timeout_ms / 1000 + 3)      # the quiet topics count as idle
        f.send("served_log", served("r-clock", t0 + 90_000, tag))   # event time passes every row's window
        f.send("training_log", b'{"schema": "training_log", "v": 1, "impression_id": 5}')
        from models.datasets.logged import training_log
        from scripts.cli.training_log import write_log
        uri, wrote = cfg.feedback.training_log_uri, []

        def written_until(done, timeout_s=120):
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                wrote.append(write_log(cfg, idle_s=2.0))
                df = training_log(uri)
                if done(df):
                    return df
            raise AssertionError(f"training log not complete in {timeout_s} s: {training_log(uri)}")

        first = written_until(lambda df: len(df) == 3)
        assert set(first["revision"]) == {0}
        # a conversion after i2's row was written, still inside the allowed lateness: revision 1
        f.send("conversions", Conversion(conversion_id="v2", impression_id="i2", click_id="k2", user_id=USER,
                                         campaign_id=f"cm-{cpc}", ts=t0 + 85_000, value=7.5))
        written_until(lambda df: df.set_index("impression_id").loc["i2", "revision"] == 1)
    finally:
        kill_group(job)
    letters = f.wait_letters(1, timeout_s=30)
    f.close()
    assert [d.stage for d in letters if d.source_topic == cfg.kafka.topics.training_log.name] == [
        "training-log.write.v1"], [(d.stage, d.reason) for d in letters]
    assert sum(w.dead_letters for w in wrote) == 1 and sum(w.rows for w in wrote) >= 4

    df = training_log(uri).set_index("impression_id")
    got = {i: (bool(r.clicked), int(r.conversions), float(r.conversion_value), int(r.revision))
           for i, r in df.iterrows()}
    assert got == {"i1": (False, 0, 0.0, 0), "i2": (True, 1, 7.5, 1), "i3": (True, 1, 20.0, 0)}
    for iid, rank in (("i1", 1), ("i2", 2), ("i3", 3)):
        r = df.loc[iid]
        assert (r["rank"], r["model_version"], r["variant"], r["feature_set"]) == (rank, "v-tl", "B", "fs-tl")
        # byte-equal: the float32 row the model scored (as the served log carried it) is the one stored
        assert np.asarray(r["features"], np.float32).tobytes() == np.array(row_of(rank), np.float32).tobytes()

    # Feast: the view over this store, point in time = the labels as known then
    import importlib.util
    from udfs.io import feast_store
    from models.datasets.logged import feast_training_rows
    spec = importlib.util.spec_from_file_location("adstream_training_log_repo",
                                                  feast_store.repo_dir(cfg) / "training_log.py")
    repo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(repo)
    store = feast_store.store(cfg)
    store.apply([repo.impression, repo.view(uri)])
    feats = [f"training_log:{c}" for c in ("clicked", "conversions", "revision", "features")]
    now = feast_training_rows(store, uri, int(time.time() * 1000) + 60_000, feats).set_index("impression_id")
    assert {i: (int(r.clicked), int(r.conversions), int(r.revision)) for i, r in now.iterrows()} == {
        i: (int(c), n, rev) for i, (c, n, _, rev) in got.items()}
    assert np.asarray(now.loc["i3", "features"], np.float32).tobytes() == np.array(row_of(3), np.float32).tobytes()
    first_of_i2 = int(df.loc["i2", "labelled_at"].value // 1_000_000) - 1   # just before its revision 1
    then = feast_training_rows(store, uri, first_of_i2, feats).set_index("impression_id")
    assert (int(then.loc["i2", "revision"]), int(then.loc["i2", "conversions"])) == (0, 0)
