"""The served log the scorer builds for every answer to a decoded request (udfs/core/scoring.py)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_scoring import FEAT, FakeModel, deps, req, scorer
from udfs.core.features import feature_set_id
from udfs.messages import ServedLog

pytestmark = pytest.mark.unit


def test_model_answer_logs_each_ranked_ad_with_the_exact_row_scored():
    model = FakeModel()
    out = scorer().handle(req(n=3), deps(model=model))
    log = out.served
    assert isinstance(log, ServedLog) and log.request_id == "r1" and log.user_id == "u1"
    assert [a.creative_id for a in log.ads] == [a.creative_id for a in out.response.ads]
    assert [(a.rank, a.price, a.pctr, a.ecpm) for a in log.ads] == \
        [(a.rank, a.price, a.pctr, a.ecpm) for a in out.response.ads]
    assert log.feature_set == feature_set_id(FEAT.names) and log.model_version == "v-test"
    # the rows are the model's input rows of those creatives, bit for bit
    X = model.last
    price = FEAT.names.index("ad_price")
    for ad in log.ads:
        row = np.array(ad.features, dtype=np.float32)
        match = [i for i in range(len(X)) if np.array_equal(X[i], row)]
        assert match, ad.creative_id
        assert row[price] == np.float32(ad.pctr * 1000)   # FakeModel: pCTR = price / 1000
    by_type = {a.creative_id: (a.bid_type, a.charged_on, a.pcvr) for a in log.ads}
    assert by_type.get("y1", ("CPM", "impression", None)) == ("CPM", "impression", None)
    assert all(v[0] != "CPC" or v[1:] == ("click", None) for v in by_type.values())
    assert ServedLog.decode(log.to_json()) == log


def test_fallback_answer_logs_empty_rows_and_invalid_request_logs_nothing():
    out = scorer().handle(req(n=2), deps(model=None))
    assert out.response.fallback and out.served is not None
    assert out.served.ads and all(a.features == () for a in out.served.ads) and out.served.feature_set == ""
    assert scorer().handle(b"{not json", deps()).served is None


def test_a_served_log_that_cannot_be_built_costs_the_log_not_the_answer(monkeypatch):
    from udfs.core import served_log

    def broken(*a, **k):
        raise ValueError("boom")
    monkeypatch.setattr(served_log, "build", broken)
    out = scorer().handle(req(n=2), deps())
    assert out.response.ads and not out.response.fallback
    assert out.served is None and out.dead_letter.kind == "error" and "served log" in out.dead_letter.reason
