"""The profile step on one micro-batch: routing of bad input, dedupe, versions, idempotency."""
import json

import pytest

from udfs.core import profile as P
from udfs.core import profile_batch as B
from udfs.messages import ClickEvent, Consent, DeadLetter

pytestmark = pytest.mark.unit

T0 = 1_764_547_200_000
PARAMS = P.ProfileParams(windows_s=(600, 3600, 86400), half_life_s=3600, top_k=3)


def click(i, user="u1", sec=None, **kw):
    fields = dict(event_id=f"e{i}", user_id=user, ts=T0 + int((i if sec is None else sec) * 1000),
                  type="view", item_id="i1", category_id="c1", price=9.5, consent=YES)
    fields.update(kw)
    return ClickEvent(**fields).encode().decode()


YES = Consent(personalisation=True, measurement=True)
NO = Consent(personalisation=False, measurement=True)


def run(lines, store=None, now=T0 + 10**7):
    store = B.DictStore() if store is None else store
    res = B.process(lines, store, PARAMS, dedupe_horizon_ms=3_600_000, now_ms=now,
                    source_topic="clicks.v1", stage="profile.apply.v1")
    return res, store


def on_time(*lines):
    return [B.ON_TIME_FLAG + ln for ln in lines]


def test_valid_events_fold_into_one_update_per_user():
    res, store = run(on_time(click(1), click(2), click(3, user="u2")))
    assert sorted(u.user_id for u in res.updates) == ["u1", "u2"]
    u1 = next(u for u in res.updates if u.user_id == "u1")
    assert u1.snapshot["cnt_view_10m"] == 2 and res.counts["applied"] == 3
    assert not res.dead_letters


@pytest.mark.parametrize("raw,field", [
    ("not json", "<payload>"),
    (json.dumps({"schema": "clickstream", "v": 1, "event_id": "x", "user_id": "u", "ts": 1,
                 "type": "hover"}), "type"),
    (json.dumps({"schema": "clickstream", "v": 3}), "v"),
])
def test_invalid_goes_to_dead_letter_with_reason_and_field(raw, field):
    res, store = run(on_time(raw))
    assert not res.updates and not store and res.counts["invalid"] == 1
    (dl,) = res.dead_letters
    assert isinstance(dl, DeadLetter) and dl.kind == "invalid" and dl.field == field
    # the payload as received, minimised: the user's id never reaches the dead-letter topic
    assert dl.original == raw.replace('"user_id": "u"', '"user_id": "[removed]"')
    assert dl.source_topic == "clicks.v1" and field in dl.reason


def test_late_flag_goes_to_dead_letter_never_dropped():
    res, store = run([B.LATE_FLAG + click(1)])
    assert not res.updates and res.counts["late"] == 1
    assert res.dead_letters[0].kind == "late" and "watermark" in res.dead_letters[0].reason


def test_invalid_beats_late_so_the_reason_names_the_real_fault():
    res, _ = run([B.LATE_FLAG + "{broken"])
    assert res.dead_letters[0].kind == "invalid"


def test_duplicates_within_and_across_batches_are_dead_lettered_once_applied_once():
    res, store = run(on_time(click(1), click(1)))
    assert res.counts == {"applied": 1, "duplicate": 1}
    res2, store = run(on_time(click(1)), store)
    assert res2.counts == {"duplicate": 1} and not res2.updates
    assert store["u1"].profile.ts == [T0 + 1000]


def test_no_consent_is_not_profiled():
    res, store = run(on_time(click(1, consent=NO)))
    assert not res.updates and not store and res.counts["no_consent"] == 1


def test_versions_grow_with_every_change_even_out_of_order():
    _, store = run(on_time(click(10)))
    v1 = store["u1"].version_us()
    assert v1 == (T0 + 10_000) * 1000
    res, store = run(on_time(click(5)), store)  # older event: same latest time, new counts
    v2 = res.updates[0].version_us
    assert v2 == v1 + 1 and res.updates[0].snapshot["cnt_view_10m"] == 2
    res, store = run(on_time(click(20)), store)
    assert res.updates[0].version_us == (T0 + 20_000) * 1000 > v2


def test_replaying_the_same_records_reaches_the_same_state_and_versions():
    lines = on_time(click(3), click(1), click(2, user="u2"), click(4), "junk", click(1))
    a, _ = run(lines)
    b, _ = run(lines)
    assert [(u.user_id, u.snapshot, u.version_us) for u in a.updates] == \
           [(u.user_id, u.snapshot, u.version_us) for u in b.updates]
    # batching does not change the outcome: one batch or one record per batch
    store = B.DictStore()
    for ln in lines:
        run([ln], store)
    assert P.snapshot(store["u1"].profile, PARAMS) == next(u for u in a.updates if u.user_id == "u1").snapshot


def test_one_state_read_and_write_per_user_per_batch():
    class Counting(B.DictStore):
        gets = puts = 0

        def get(self, k, default=None):
            Counting.gets += 1
            return super().get(k, default)

        def put(self, k, v):
            Counting.puts += 1
            super().put(k, v)

    run(on_time(*[click(i) for i in range(50)], *[click(100 + i, user="u2") for i in range(50)]), Counting())
    assert (Counting.gets, Counting.puts) == (2, 2)


def test_seen_ids_are_pruned_to_the_dedupe_horizon():
    store = B.DictStore()
    run(on_time(*[click(i, sec=i * 60) for i in range(200)]), store)  # 200 minutes of events
    assert len(store["u1"].seen) <= 61


def test_user_state_survives_pickling_as_flink_state_holds_it():
    import pickle
    _, store = run(on_time(*(click(i, category_id=f"c{i % 3}", brand_id=f"b{i % 2}") for i in range(30))))
    st = store["u1"]
    st.revision, st.written_ms = 2, 12345
    raw = pickle.dumps(B.to_state(st))
    assert b"udfs" not in raw          # builtins only: moving our modules never breaks a checkpoint
    back = B.from_state(pickle.loads(raw))
    assert back == st and back.version_us() == st.version_us()
    # and it keeps folding exactly like the original
    more = on_time(click(40, sec=40), click(41, sec=41))
    a, b = B.DictStore(u1=st), B.DictStore(u1=back)
    assert run(more, a)[0].updates[0].snapshot == run(more, b)[0].updates[0].snapshot


def test_state_of_another_format_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="unknown format"):
        B.from_state((B.STATE_FORMAT + 1, (), {}, 0, 0, 0))
    with pytest.raises(ValueError, match="unknown format"):
        B.from_state(B.UserState())


def test_future_events_are_dead_lettered_as_future_and_counted_apart():
    from udfs.messages.bounds import TimeBounds
    now = T0 + 10**7
    bounds = TimeBounds(min_ts_ms=946_684_800_000, max_future_skew_ms=300_000)
    lines = on_time(click(1), click(2, sec=10**4 + 301), click(3, sec=-T0 // 1000), "{broken")
    res = B.process(lines, B.DictStore(), PARAMS, dedupe_horizon_ms=3_600_000, now_ms=now,
                    source_topic="clicks.v1", stage="profile.apply.v1", bounds=bounds)
    assert res.counts == {"applied": 1, "future": 1, "invalid": 2}
    assert sorted(dl.kind for dl in res.dead_letters) == ["future", "invalid", "invalid"]
    fut = next(dl for dl in res.dead_letters if dl.kind == "future")
    assert fut.field == "ts" and "max_future_skew_ms" in fut.reason


def test_the_flink_adapter_counts_every_kind_the_step_counts():
    from udfs.flink.profile import COUNTERS   # the metric names: a kind missing here is never seen
    from udfs.messages.dead_letter import REASONS
    joins_only = {"orphan", "unattributed"}   # what only the feedback job's joins reject
    assert set(REASONS) - {"error"} - joins_only <= set(COUNTERS)
    assert {"applied", "no_consent"} <= set(COUNTERS)


def test_future_flag_from_the_jvm_is_a_future_dead_letter_even_if_python_would_accept_it():
    res, store = run([B.FUTURE_FLAG + click(1)])
    assert not res.updates and not store and res.counts["future"] == 1
    (dl,) = res.dead_letters
    assert dl.kind == "future" and dl.field == "ts" and "ahead of the clock" in dl.reason


def test_repair_updates_rewrite_exactly_what_the_last_update_wrote():
    res, store = run(on_time(click(1), click(2, type="cart"), click(3, user="u2"), click(4, sec=0.5)))
    last = {u.user_id: u for u in res.updates}
    repaired = {u.user_id: u for u in B.repair_updates(store.items(), PARAMS)}
    assert repaired == last      # same snapshot, same version: a store holding it keeps it
    # a user with no applied event (nothing was ever written for them) is not written
    assert list(B.repair_updates([("ghost", B.UserState()), ("none", None)], PARAMS)) == []


# ------------------------------------------------------------------ consent (docs/privacy.md)

def run_with(lines, store=None, policy=None):
    from udfs.config import ConsentPolicy
    store = B.DictStore() if store is None else store
    res = B.process(lines, store, PARAMS, dedupe_horizon_ms=3_600_000, now_ms=T0 + 10**7,
                    source_topic="clicks.v1", stage="profile.apply.v1",
                    policy=policy or ConsentPolicy())
    return res, store


def test_refusing_user_leaves_no_state_no_update_and_is_listed_for_the_online_delete():
    res, store = run_with(on_time(click(1, consent=NO), click(2, consent=NO)))
    assert not res.updates and "u1" not in store
    assert res.counts["no_consent"] == 2 and res.counts["applied"] == 0
    assert res.erasures == ["u1"] and res.counts["erased"] == 0   # nothing was held to erase


def test_absent_flag_is_no_under_opt_in_and_yes_under_opt_out():
    from udfs.config import ConsentPolicy
    bare = on_time(click(1, consent=None, geo="US"))
    res, store = run_with(bare)
    assert not res.updates and not store and res.counts["no_consent"] == 1
    res, store = run_with(bare, policy=ConsentPolicy(geos={"US": "opt_out"}))
    assert [u.user_id for u in res.updates] == ["u1"] and "u1" in store


def test_v1_boolean_consent_is_read_as_personalisation():
    v1 = [B.ON_TIME_FLAG + json.dumps({"schema": "clickstream", "v": 1, "event_id": f"x{i}", "user_id": "u1",
                                       "ts": T0 + i, "type": "view", "item_id": "i", "consent": flag})
          for i, flag in ((1, True), (2, False))]
    res, _ = run_with(v1[:1])
    assert res.counts["applied"] == 1
    res, store = run_with(v1)
    assert not res.updates and "u1" not in store and res.counts["no_consent"] == 1


def test_withdrawal_erases_a_held_profile_from_state_and_counts_it():
    res, store = run_with(on_time(click(1), click(2)))
    assert "u1" in store and res.updates
    res, store = run_with(on_time(click(3, consent=NO)), store)
    assert "u1" not in store and not res.updates
    assert res.erasures == ["u1"] and res.counts["erased"] == 1 and res.counts["no_consent"] == 1


def test_withdrawal_inside_a_batch_drops_what_came_before_and_consenting_again_starts_afresh():
    res, store = run_with(on_time(click(1), click(2, consent=NO), click(3, sec=5)))
    assert res.erasures == ["u1"] and res.counts["erased"] == 1
    (u,) = res.updates
    assert u.snapshot["cnt_view_10m"] == 1            # only the event after the withdrawal
    assert set(store["u1"].seen) == {"e3"}             # nothing of before is kept, not even its ids


def test_other_users_are_untouched_by_one_users_withdrawal():
    res, store = run_with(on_time(click(1), click(2, user="u2")))
    res, store = run_with(on_time(click(3, consent=NO)), store)
    assert "u1" not in store and "u2" in store and res.erasures == ["u1"]
