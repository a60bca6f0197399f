"""The scoring job's graph (``jobs.scoring.build``) on in-memory requests: no Kafka, no Redis.

The catalogue is a temporary file plus in-memory topic records (tests/flink/offline_scoring.py),
the model a tiny one trained into a temporary registry. The feature store's Redis port is
one nothing listens on, so every profile read fails at once: each answer to a known user
must then be a flagged contextual fallback, never a missing answer.
"""
from __future__ import annotations

import collections
import functools
import json
import socket

import pytest

from tests.support import scoring_support as S
from udfs import config
from udfs.messages import CatalogChange, DeadLetter, RankedAds, ServedLog
from udfs.messages.catalog_change import Advertiser

pytestmark = pytest.mark.flink


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released), so connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requests() -> list:
    """Valid, invalid and null records; each valid or id-bearing one must be answered once."""
    return [S.request("fan", "u-fan").to_json(),
            S.request("anon-fr", None, geo="FR", num_ads=4).to_json(),
            S.request("twice-a", "u-twin").to_json(), S.request("twice-b", "u-twin").to_json(),
            "{not json",
            json.dumps({"schema": "ad_request", "v": 1, "request_id": "bad-1", "user_id": "u-fan",
                        "ts": S.T0, "slot": "s", "num_ads": 99}),
            None]


def run_graph(tmp_path, registry, lines, topic_records, erasures=None):
    """``build`` on ``lines``; every output row as (output, key, value), from one run."""
    from pyflink.table.expressions import lit
    from jobs.common import table_env
    from jobs.scoring import build
    from tests.flink.helpers import collect_rows, value_table
    from tests.flink.offline_scoring import OfflineScoring
    catalog = S.write_catalog(tmp_path / "catalog.json", S.crafted_catalog())
    cfg = config.load("test", overrides=[f"paths.model_registry={registry}", f"redis.port={closed_port()}",
                                         f"flink.checkpoint_dir={tmp_path}/ckpt"])
    env, tenv = table_env(cfg, "test-scoring-graph")
    outputs = build(tenv, value_table(tenv, lines), cfg, str(catalog),
                    function=functools.partial(OfflineScoring, topic_records=topic_records),
                    erasures=None if erasures is None else value_table(tenv, erasures))
    # One job, each row labelled with the output it was routed to.
    labelled = [t.select(lit(name).alias("output"), t.k, t.v) for name, t in outputs.items()]
    return cfg, collect_rows(functools.reduce(lambda a, b: a.union_all(b), labelled))


def test_every_request_answered_once_invalid_ones_dead_lettered_and_each_tag_routed(tmp_path):
    registry = tmp_path / "models"
    version = S.train_model(registry, 1)
    topic_records = [CatalogChange.upsert(Advertiser(advertiser_id="E")).encode(),
                     (b"campaign:cX", b"{oops")]
    cfg, rows = run_graph(tmp_path, registry, requests(), topic_records)
    assert {r[0] for r in rows} <= {"ranked_ads", "served_log", "dead_letter", "erasure_audit"}
    # each output holds only its own format: a row routed to the wrong topic would not decode
    answers = [(k, RankedAds.decode(v)) for out, k, v in rows if out == "ranked_ads"]
    dead = [(k, DeadLetter.decode(v)) for out, k, v in rows if out == "dead_letter"]

    ids = collections.Counter(a.request_id for _, a in answers)
    assert ids == {"fan": 1, "anon-fr": 1, "twice-a": 1, "twice-b": 1, "bad-1": 1}, ids
    assert all(k == a.request_id for k, a in answers)           # keyed by request id
    got = {a.request_id: a for _, a in answers}
    for rid in ("fan", "twice-a", "twice-b"):                   # the store refused: flagged, still ranked
        assert got[rid].fallback and "feature store" in got[rid].fallback_reason, got[rid]
        assert got[rid].ads and got[rid].model_version == version
    assert got["anon-fr"].fallback and "anonymous" in got["anon-fr"].fallback_reason
    assert got["bad-1"].ads == () and got["bad-1"].fallback

    requests_topic, catalog_topic = cfg.kafka.topics.ad_requests.name, cfg.kafka.topics.catalog.name
    letters = {(d.source_topic, d.field): k for k, d in dead}
    assert letters == {(requests_topic, "num_ads"): "bad-1",       # a readable id keys its dead letter
                       (requests_topic, "<payload>"): None,        # "{not json"
                       (requests_topic, "<value>"): None,          # the null record
                       (catalog_topic, "<value>"): None}, dead     # the catalogue record "{oops"
    assert len(dead) == len(letters)                               # and each of them once
    assert all(d.kind == "invalid" and d.reason for _, d in dead)

    # the served log: one per answer to a decoded request (not bad-1: it never decoded), keyed by
    # request id, offering exactly the answer's ads
    served = [(k, ServedLog.decode(v)) for out, k, v in rows if out == "served_log"]
    assert sorted(s.request_id for _, s in served) == ["anon-fr", "fan", "twice-a", "twice-b"]
    assert all(k == s.request_id for k, s in served)
    for _, s in served:
        answer = got[s.request_id]
        assert [(a.creative_id, a.rank, a.price, a.pctr) for a in s.ads] == \
            [(a.creative_id, a.rank, a.price, a.pctr) for a in answer.ads]
        assert s.model_version == answer.model_version == version
        assert s.feature_set and all(len(a.features) == len(s.ads[0].features) > 0 for a in s.ads)


def test_an_erasure_request_drops_the_users_caps_and_is_audited(tmp_path):
    """A request for u-twin beside its two ad requests: one audit record from the scoring job, and
    every ad request still answered; an unreadable request is a dead letter, not an erasure."""
    from udfs.core import erasure as E
    from udfs.messages import ErasureAudit, ErasureRequest
    registry = tmp_path / "models"
    S.train_model(registry, 1)
    req = ErasureRequest(request_id="T7", user_id="u-twin", ts=S.T0, requested_by="desk")
    _, rows = run_graph(tmp_path, registry, requests(), [],
                        erasures=[req.to_json(), '{"schema": "erasure", "v": 1, "user_id": "u-fan"}'])
    (audit,) = [ErasureAudit.decode(v) for out, k, v in rows if out == "erasure_audit"]
    assert (audit.ticket_id, audit.user_id, audit.by) == ("T7", "u-twin", "adstream-scoring")
    assert set(audit.stores) == {E.SCORING_CAPS} and audit.stores[E.SCORING_CAPS] >= 0
    answered = {RankedAds.decode(v).request_id for out, _, v in rows if out == "ranked_ads"}
    assert {"twice-a", "twice-b", "fan"} <= answered
    errors = [DeadLetter.decode(v) for out, k, v in rows if out == "dead_letter" and k == "u-fan"]
    assert [d.kind for d in errors] == ["error"] and "erasure request" in errors[0].reason
