"""The feedback job's graph (``jobs.feedback.build``) on a scripted in-memory sequence: exact
attributed events and charges, and a dead letter with a reason for everything else. The
bounded input ends with the maximal watermark, so every wait expires inside the run."""
from __future__ import annotations

import collections
import functools

import numpy as np
import pytest

from udfs import config
from udfs.core.attributed import Attributed
from udfs.messages import AdClick, Conversion, DeadLetter, Impression, ServedAd, ServedLog
from udfs.messages.served import CHARGED_ON, charge_of

pytestmark = pytest.mark.flink

T0 = 1_764_547_200_000


def served_ad(rank, creative, bid_type, price):
    return ServedAd(ad_id=f"a-{creative}", campaign_id=f"cm-{creative}", creative_id=creative,
                    advertiser_id="adv", rank=rank, bid_type=bid_type, bid=price, pctr=0.05, ecpm=1.0,
                    price=price, charged_on=CHARGED_ON[bid_type], charge=charge_of(bid_type, price),
                    features=row_of(rank))


def row_of(rank):
    """A distinct float32 feature row per ad (the training log must carry it bit for bit)."""
    return tuple(float(np.float32(v)) for v in (rank / 3.0, -rank * 1.1, 1e-7 * rank, 0.0))


def imp(iid, creative, rid="r1", ts=T0 + 10):
    return Impression(impression_id=iid, request_id=rid, user_id="u1", ad_id=f"a-{creative}",
                      campaign_id=f"cm-{creative}", creative_id=creative, ts=ts, position=1, price=0.0)


def click(cid, iid, creative, ts, rid="r1"):
    return AdClick(click_id=cid, impression_id=iid, request_id=rid, user_id="u1", ad_id=f"a-{creative}",
                   campaign_id=f"cm-{creative}", ts=ts)


def script(cfg):
    t = cfg.kafka.topics
    log = ServedLog(request_id="r1", user_id="u1", ts=T0, slot="home", model_version="v1", feature_set="fs-test",
                    ads=(served_ad(1, "cpm", "CPM", 3.0), served_ad(2, "cpc", "CPC", 0.4),
                         served_ad(3, "cpa", "CPA", 5.0)))
    conv = Conversion(conversion_id="v1", impression_id="i3", click_id="k3", user_id="u1",
                      campaign_id="cm-cpa", ts=T0 + 9_000, value=20.0)
    return [
        (t.ad_clicks.name, click("k2", "i2", "cpc", T0 + 2_000).to_json()),   # before its impression
        (t.impressions.name, imp("i1", "cpm").to_json()),                    # before its served log
        (t.served_log.name, log.to_json()),
        (t.impressions.name, imp("i2", "cpc").to_json()),
        (t.impressions.name, imp("i3", "cpa").to_json()),
        (t.impressions.name, imp("i1", "cpm").to_json()),                    # duplicate
        (t.ad_clicks.name, click("k2", "i2", "cpc", T0 + 2_000).to_json()),   # duplicate
        (t.ad_clicks.name, click("k3", "i3", "cpa", T0 + 3_000).to_json()),
        (t.conversions.name, conv.to_json()),
        (t.impressions.name, imp("i9", "cpm", rid="r-never").to_json()),     # orphan: no served log
        (t.ad_clicks.name, click("k9", "i-never", "cpc", T0).to_json()),     # orphan: no impression
        (t.impressions.name, imp("i4", "nope").to_json()),                   # not offered
        (t.conversions.name, "{not json"),
        (t.impressions.name, None),
    ]


class _Rows:
    """A seen writer that keeps its rows in a file (the worker runs in this process's JVM, but
    a file is the simplest channel that also survives a process-mode worker)."""

    def __init__(self, path):
        self.path = path

    def write(self, rows):
        import json
        with open(self.path, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        return len(rows)

    def erase(self, user_ids):
        import json
        with open(self.path, "a") as f:
            f.write(json.dumps(["erase", list(user_ids)]) + "\n")
        return 2

    def close(self):
        pass


def _seen_into(path):
    from udfs.flink.feedback_slices import SeenFunction

    class Seen(SeenFunction):
        def make_writer(self, cfg):
            return _Rows(path)
    return Seen


def _stats_into(path):
    """The statistics stage with its writes kept in a file."""
    from udfs.flink.feedback_slices import StatsFunction

    class Writer(_Rows):
        def write(self, campaigns, creatives, ts_ms):
            return super().write([[campaigns, creatives, ts_ms]])

    class Stats(StatsFunction):
        def make_writer(self, cfg):
            return Writer(path)
    return Stats


def run(tmp_path, extra=(), **functions):
    from pyflink.table.expressions import lit
    from jobs.common import table_env
    from jobs.feedback import build
    from tests.flink.helpers import collect_rows, feedback_source
    cfg = config.load("test", overrides=[f"flink.checkpoint_dir={tmp_path}/ckpt"])
    env, tenv = table_env(cfg, "test-feedback-graph")
    feedback_source(env, tenv, cfg, "fb_in", script(cfg) + list(extra))
    outputs = build(tenv, cfg, "fb_in", functions={"seen": _seen_into(str(tmp_path / "seen.jsonl")),
                                                      "stats": _stats_into(str(tmp_path / "stats.jsonl")),
                                                      **functions})
    labelled = [t.select(lit(name).alias("output"), t.k, t.v) for name, t in outputs.items()]
    return collect_rows(functools.reduce(lambda a, b: a.union_all(b), labelled))


def test_scripted_sequence_gives_exact_counts_and_charges(tmp_path):
    rows = run(tmp_path)
    got = sorted((a.kind, a.event_id, a.campaign_id, round(a.charge, 6))
                 for out, k, v in rows if out == "attributed" for a in [Attributed.decode(v)])
    assert got == [("click", "k2", "cm-cpc", 0.4), ("click", "k3", "cm-cpa", 0.0),
                   ("conversion", "v1", "cm-cpa", 5.0),
                   ("impression", "i1", "cm-cpm", 0.003), ("impression", "i2", "cm-cpc", 0.0),
                   ("impression", "i3", "cm-cpa", 0.0)]
    assert all(k == Attributed.decode(v).campaign_id for out, k, v in rows if out == "attributed")
    letters = [DeadLetter.decode(v) for out, _, v in rows if out == "dead_letter"]
    kinds = collections.Counter(d.kind for d in letters)
    assert kinds == {"duplicate": 2, "orphan": 2, "unattributed": 1, "invalid": 2}, letters
    assert all(d.reason and d.source_topic for d in letters), letters
    by_reason = {d.kind: d for d in letters if d.kind in ("orphan",) and "k9" in d.original}
    assert by_reason["orphan"].source_topic.startswith("clicks-on-ads")
    # The seen stage's slices run on processing time, which a finished in-memory source never
    # fires: that stage is tested on its own below, and on Kafka in tests/integration.


def _run_stage(tmp_path, fn_class, key_type, slices):
    """One store stage (udfs/flink/feedback_slices.py) on (key, JSON array) slices, keyed in the
    JVM as the job keys them; its dead letters."""
    return [DeadLetter.decode(v) for kind, _, v in _run_stage_rows(tmp_path, fn_class, key_type, slices)
            if kind == "D"]


def test_seen_stage_folds_a_slice_per_user_and_writes_each_user_once(tmp_path):
    import json
    from udfs.core import seen
    from udfs.core.pricing import Priced

    def priced(iid, user, creative, ts, personalised=True):
        return Priced(impression_id=iid, request_id="r", user_id=user, ts=ts, campaign_id=f"cm-{creative}",
                      creative_id=creative, bid_type="CPM", charge=0.001, model_version="v1", variant="",
                      personalised=personalised).encode()
    u1 = [priced(f"i{k}", "u1", c, T0 + 10 * k) for k, c in enumerate(("cpm", "cpc", "cpm"))]
    slices = [(3, json.dumps([*u1[:2], priced("j1", "u2", "cpm", T0), "[not priced", 7])),
              (3, json.dumps([u1[2], priced("j2", "u3", "cpm", T0, personalised=False)])),
              (5, "{not an array")]
    letters = _run_stage(tmp_path, _seen_into(str(tmp_path / "seen.jsonl")), "int", slices)
    assert [d.stage for d in letters] == ["feedback.seen.v2"] * 3 and all(d.kind == "error" for d in letters)
    written = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    # one write per user and slice (u1 twice: once per slice), none for the unconsented u3
    assert [(u, ts) for u, _, ts in written] == [("u1", T0 + 10), ("u2", T0), ("u1", T0 + 20)]
    assert seen.decode(written[-1][1]) == {"campaign|u1|cm-cpm": [T0, T0 + 20], "campaign|u1|cm-cpc": [T0 + 10],
                                           "creative|u1|cpm": [T0, T0 + 20], "creative|u1|cpc": [T0 + 10]}


def test_stats_stage_writes_a_campaign_once_a_slice_with_every_event_counted(tmp_path):
    import json
    ev = [Attributed(kind=k, event_id=f"e{i}", ts=T0 + i, campaign_id="cm", creative_id=cr, bid_type="CPC",
                     charge=0.5 if k == "click" else 0.0).encode()
          for i, (k, cr) in enumerate((("impression", "a"), ("impression", "b"), ("click", "a"), ("impression", "a")))]
    slices = [("cm", json.dumps([ev[0], ev[1], ev[2], "[broken"])), ("cm", json.dumps([ev[3]]))]
    letters = _run_stage(tmp_path, _stats_into(str(tmp_path / "stats.jsonl")), "str", slices)
    assert [(d.stage, d.kind) for d in letters] == [("feedback.stats.v1", "error")]
    written = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert len(written) == 2                       # one write per slice
    (camp1, crs1, ts1), (camp2, crs2, ts2) = written
    assert (camp1["cm"]["impressions_total"], camp1["cm"]["clicks_total"], ts1) == (2, 1, T0 + 2)
    assert sorted(crs1) == ["a", "b"] and sorted(crs2) == ["a"]   # only the creatives a slice changed
    assert (camp2["cm"]["impressions_total"], crs2["a"]["impressions_total"], ts2) == (3, 2, T0 + 3)
    assert camp2["cm"]["spend_today"] == 0.5


def test_every_attributed_impression_gets_one_training_row_with_the_scored_features(tmp_path):
    from udfs.messages import TrainingRow
    rows = run(tmp_path)
    got = sorted((TrainingRow.decode(v) for out, k, v in rows if out == "training_log"),
                 key=lambda r: r.impression_id)
    assert [(r.impression_id, r.clicked, r.conversions, r.conversion_value, r.revision) for r in got] == [
        ("i1", False, 0, 0.0, 0), ("i2", True, 0, 0.0, 0), ("i3", True, 1, 20.0, 0)]
    assert all(k == TrainingRow.decode(v).impression_id for out, k, v in rows if out == "training_log")
    for r, rank in zip(got, (1, 2, 3)):
        assert r.rank == rank and r.feature_set == "fs-test" and r.model_version == "v1"
        # byte-equal: the float32 row the model scored is the float32 row logged
        assert np.array(r.features, np.float32).tobytes() == np.array(row_of(rank), np.float32).tobytes()



def test_a_timer_that_raises_costs_its_key_a_dead_letter_not_the_job(tmp_path):
    from udfs.flink.feedback import AttributionFunction
    from udfs.messages import TrainingRow

    class TimerFails(AttributionFunction):
        def expire(self, st, watermark, out):
            if st.imp is not None and st.imp.impression_id == "i2":
                raise RuntimeError("timer exploded")
            return super().expire(st, watermark, out)

    rows = run(tmp_path, attribution=TimerFails)
    errors = [d for out, _, v in rows if out == "dead_letter" for d in [DeadLetter.decode(v)] if d.kind == "error"]
    assert len(errors) == 1 and "timer exploded" in errors[0].reason
    assert errors[0].stage == "feedback.attribution.v1" and "i2" in errors[0].original
    assert sorted(TrainingRow.decode(v).impression_id for out, _, v in rows if out == "training_log") == ["i1", "i3"]


def test_an_erasure_request_drops_the_users_caps_keeps_a_tombstone_and_writes_an_audit_record(tmp_path):
    """In the seen stage's slices: the user's impressions before the request are dropped with the
    state, nothing of theirs is written after it but what is newer than the request, a replayed
    older impression is suppressed, another user of the shard is untouched."""
    import json
    from udfs.core import erasure as E
    from udfs.core.pricing import Priced
    from udfs.flink.feedback_erasure import ERASURE
    from udfs.messages import ErasureAudit, ErasureRequest

    def priced(iid, user, ts):
        return Priced(impression_id=iid, request_id="r", user_id=user, ts=ts, campaign_id="cm-a",
                      creative_id="a", bid_type="CPM", charge=0.001, model_version="v1", variant="").encode()
    req = ERASURE + ErasureRequest(request_id="T1", user_id="u1", ts=T0 + 100, requested_by="desk").to_json()
    slices = [(7, json.dumps([priced("i1", "u1", T0), priced("i2", "u1", T0 + 10)])),
              (7, json.dumps([priced("i3", "u1", T0 + 20), req, priced("j1", "u2", T0 + 30)])),
              (7, json.dumps([priced("i1", "u1", T0), priced("i4", "u1", T0 + 200)]))]
    rows = _run_stage_rows(tmp_path, _seen_into(str(tmp_path / "seen.jsonl")), "int", slices)
    (audit,) = [ErasureAudit.decode(v) for kind, _, v in rows if kind == "U"]
    assert (audit.ticket_id, audit.user_id, audit.by) == ("T1", "u1", "adstream-feedback")
    assert audit.stores == {E.CAPS_STATE: 6, E.ONLINE_FIELDS: 2}   # i1, i2, i3: campaign + creative each
    assert not [k for k, _, _ in rows if k == "D"]
    lines = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert [ln[0] for ln in lines] == ["u1", "erase", "u2", "u1"]
    assert lines[1] == ["erase", ["u1"]]
    assert seen_decode(lines[3][1]) == {"campaign|u1|cm-a": [T0 + 200], "creative|u1|a": [T0 + 200]}


def _run_stage_rows(tmp_path, fn_class, key_type, slices):
    """As ``_run_stage``, every output row (kind, k, v)."""
    from pyflink.common import Types
    from pyflink.table import DataTypes
    from jobs.common import keyed_by_first_column, table_env
    from jobs.feedback import JOB
    from tests.flink.helpers import collect
    from udfs.flink.feedback import OUTPUT_TYPE
    cfg = config.load("test", overrides=[f"flink.checkpoint_dir={tmp_path}/ckpt"])
    env, tenv = table_env(cfg, "test-feedback-stage")
    dtype = DataTypes.INT() if key_type == "int" else DataTypes.STRING()
    table = tenv.from_elements(slices, DataTypes.ROW([DataTypes.FIELD("key", dtype),
                                                      DataTypes.FIELD("lines", DataTypes.STRING())]))
    keyed = keyed_by_first_column(tenv, table, Types.INT() if key_type == "int" else Types.STRING(),
                                  Types.STRING())
    return [tuple(r) for r in collect(keyed.process(fn_class(config.to_dict(cfg), JOB), output_type=OUTPUT_TYPE))]


def seen_decode(entries):
    from udfs.core import seen
    return seen.decode(entries)
