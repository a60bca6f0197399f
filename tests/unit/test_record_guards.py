"""One bad record never escapes a pure step as an exception: it becomes a dead letter naming
the exception class, and the next records go on (docs/reliability.md)."""
from __future__ import annotations

import json

import pytest

from tests.unit import test_profile_batch as PB
from tests.unit import test_scoring as TS
from tests.unit.test_scoring_parts import POLICY
from udfs.core import profile as P
from udfs.core import profile_batch as B
from udfs.io.catalog_feed import CatalogKeeper
from udfs.messages import AdRequest
from udfs.core.record_guard import describe

pytestmark = pytest.mark.unit


class Poison(Exception):
    pass


def failing_fold(state, ev, params):
    """P.apply, except that it changes the state half-way and then raises for category 'poison'."""
    if ev.category_id == "poison":
        state.ts.append(ev.ts)          # a half-applied event: must never reach the stored state
        raise Poison("fold blew up")
    P.apply(state, ev, params)


def run(lines, store=None, fold=P.apply):
    store = B.DictStore() if store is None else store
    return B.process(lines, store, PB.PARAMS, dedupe_horizon_ms=3_600_000, now_ms=PB.T0 + 10**7,
                     source_topic="clicks.v1", stage="profile.apply.v1", fold=fold), store


def test_an_event_whose_fold_raises_is_dead_lettered_and_its_user_state_is_as_without_it():
    good = [PB.click(1), PB.click(2, sec=30), PB.click(4, user="u2")]
    bad = PB.click(3, sec=20, category_id="poison")
    res, store = run(PB.on_time(good[0], bad, *good[1:]), fold=failing_fold)
    [dl] = res.dead_letters
    assert dl.kind == "error" and "Poison" in dl.reason and json.loads(dl.original)["event_id"] == "e3"
    assert res.counts["error"] == 1 and res.counts["applied"] == 3
    ref, ref_store = run(PB.on_time(*good))
    assert P.snapshot(store["u1"].profile, PB.PARAMS) == P.snapshot(ref_store["u1"].profile, PB.PARAMS)
    assert [u.snapshot for u in res.updates] == [u.snapshot for u in ref.updates]


def test_a_failed_fold_leaves_the_stored_state_untouched():
    res, store = run(PB.on_time(PB.click(1)))
    before = P.snapshot(store["u1"].profile, PB.PARAMS)
    res, store = run(PB.on_time(PB.click(2, category_id="poison")), store, fold=failing_fold)
    assert res.counts["error"] == 1 and not res.updates
    assert P.snapshot(store["u1"].profile, PB.PARAMS) == before and len(store["u1"].profile.ts) == 1


def test_a_record_whose_decoding_raises_is_dead_lettered_and_the_rest_go_on(monkeypatch):
    from udfs.messages import ClickEvent
    real = ClickEvent.decode.__func__

    def decode(cls, raw, **kw):
        if "boom" in raw:
            raise RecursionError("decoder bug")
        return real(cls, raw, **kw)
    monkeypatch.setattr(ClickEvent, "decode", classmethod(decode))
    res, _ = run(PB.on_time(PB.click(1), PB.click(2, item_id="boom"), PB.click(3)) + [17])
    assert sorted(d.kind for d in res.dead_letters) == ["error", "error"]
    assert any("RecursionError" in d.reason for d in res.dead_letters)
    assert any("TypeError" in d.reason for d in res.dead_letters)     # 17: not even a string
    assert res.counts["applied"] == 2


def test_a_null_record_is_an_invalid_dead_letter():
    res, _ = run([B.NULL_FLAG, *PB.on_time(PB.click(1))])
    [dl] = res.dead_letters
    assert dl.kind == "invalid" and dl.field == "<value>" and "null" in dl.reason
    assert res.counts["applied"] == 1


def test_a_state_store_that_raises_for_one_user_costs_that_user_only():
    class Broken(B.DictStore):
        def get(self, k, default=None):
            if k == "u2":
                raise ValueError("unpickling failed")
            return super().get(k, default)
    res, store = run(PB.on_time(PB.click(1), PB.click(2, user="u2")), Broken())
    assert [d.kind for d in res.dead_letters] == ["error"] and "ValueError" in res.dead_letters[0].reason
    assert list(store) == ["u1"]


def test_scoring_decoder_bug_is_answered_and_dead_lettered(monkeypatch):
    real = AdRequest.decode.__func__
    monkeypatch.setattr(AdRequest, "decode", classmethod(
        lambda cls, raw, **kw: (_ for _ in ()).throw(OverflowError("int too large")) if b"r-bug" in raw
        else real(cls, raw, **kw)))
    sc = TS.scorer()
    out = sc.handle(TS.req("r-bug"), TS.deps())
    assert out.dead_letter.kind == "error" and "OverflowError" in out.dead_letter.reason
    assert out.response.request_id == "r-bug" and out.response.fallback and out.response.ads == ()
    assert "internal error" in out.response.fallback_reason
    assert sc.handle(TS.req("r-ok"), TS.deps()).response.ads                      # the next goes on


def test_scoring_failed_without_a_readable_id_is_a_dead_letter_only():
    out = TS.scorer().failed(b"\xff not json", KeyError("x"), "scoring")
    assert out.response is None and out.dead_letter.kind == "error" and "KeyError" in out.dead_letter.reason


def test_an_internal_ranking_error_is_answered_and_dead_lettered():
    class Broken(TS.Catalog):
        def campaign_ids_with_creatives(self):
            raise KeyError("boom")
    out = TS.scorer().handle(TS.req(), TS.deps(Broken()))
    assert out.response.fallback and out.dead_letter.kind == "error" and "KeyError" in out.dead_letter.reason


def test_a_catalogue_record_that_raises_anything_is_a_dead_letter():
    class Broken(TS.Catalog):
        def apply_record(self, key, value):
            raise TypeError("a bug in the change parser")
    k = CatalogKeeper(POLICY, "ads.catalog", wall_ms=lambda: 7)
    k.catalog = Broken()
    dl = k.apply(b"creative:z", b"{}")
    assert dl.kind == "error" and "TypeError" in dl.reason and dl.original == "creative:z\t{}"
    assert k.invalid == 1 and k.applied == 0


def test_describe_names_the_class_even_when_the_message_raises():
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("no")
    assert describe(Nasty()).startswith("Nasty:") and describe(ValueError("x" * 5000)).__len__() <= 512
