"""Erasure requests in the profile step's batch: the state dropped, the tombstone that keeps a
replay from bringing the profile back, and what the audit record is made from."""
import pytest

from tests.unit.test_profile_batch import NO, PARAMS, T0, click, on_time, run
from udfs.core import profile_batch as B
from udfs.messages import ErasureRequest

pytestmark = pytest.mark.unit


def erase(user="u1", sec=100, ticket="t1"):
    req = ErasureRequest(request_id=ticket, user_id=user, ts=T0 + sec * 1000, requested_by="desk")
    return B.ERASURE_FLAG + req.to_json()


def test_request_drops_the_profile_lists_the_user_and_leaves_a_tombstone():
    _, store = run(on_time(click(1), click(2), click(3, user="u2")))
    res, store = run([erase()], store)
    assert res.erasures == ["u1"] and not res.updates
    (done,) = res.requests
    assert (done.request.request_id, done.profiles, done.dedupe_ids) == ("t1", 1, 2)
    tomb = store["u1"]
    assert tomb.applied == 0 and tomb.seen == {} and tomb.erased_ts == T0 + 100_000
    assert store["u2"].applied == 1                     # nobody else touched
    assert res.counts["erased"] == 1 and res.counts["erasure_requests"] == 1
    # the online-store repair never rewrites a tombstone
    assert [u.user_id for u in B.repair_updates(store.items(), PARAMS)] == ["u2"]


def test_replay_of_events_from_before_the_request_cannot_rebuild_the_profile():
    _, store = run(on_time(click(1), click(2)))
    run([erase(sec=100)], store)
    # the same events read again (a restart from a checkpoint of before, or late): not folded
    res, store = run(on_time(click(1), click(2)), store)
    assert not res.updates and res.counts["suppressed"] == 2 and store["u1"].applied == 0
    # an event after the request starts a new profile, keeping the tombstone's time
    res, store = run(on_time(click(9, sec=200)), store)
    assert [u.user_id for u in res.updates] == ["u1"] and store["u1"].applied == 1
    assert store["u1"].erased_ts == T0 + 100_000


def test_in_one_batch_the_request_wins_whatever_the_arrival_order():
    a, sa = run(on_time(click(1), click(2)) + [erase(sec=100)])
    b, sb = run([erase(sec=100)] + on_time(click(1), click(2)))
    for res, store in ((a, sa), (b, sb)):
        assert not res.updates and res.erasures == ["u1"] and store["u1"].applied == 0
    assert b.counts["suppressed"] == 2 and a.counts["suppressed"] == 2


def test_request_for_a_user_without_state_is_still_audited_and_deleted_online():
    res, store = run([erase(user="nobody")])
    (done,) = res.requests
    assert (done.profiles, done.dedupe_ids) == (0, 0) and res.erasures == ["nobody"]
    assert res.counts["erased"] == 0 and store["nobody"].erased_ts


def test_an_invalid_request_is_a_dead_letter_not_an_erasure():
    res, store = run([B.ERASURE_FLAG + '{"schema": "erasure", "v": 1, "user_id": ""}'])
    assert not res.requests and not res.erasures and not store
    (dl,) = res.dead_letters
    assert dl.kind == "invalid" and "erasure request" in dl.reason


def test_withdrawal_after_a_request_keeps_the_tombstone():
    _, store = run([erase(sec=100)])
    res, store = run(on_time(click(5, sec=300, consent=NO)), store)
    assert res.erasures == ["u1"] and store["u1"].erased_ts == T0 + 100_000


def test_states_of_formats_1_and_2_from_older_checkpoints_still_read():
    fields = B.astuple_shallow(B.UserState().profile)
    # 1: before keyword folding (no search, keywords: the profile's last two) and erasure
    st = B.from_state((1, fields[:-2], {"e1": 5}, 0, 1, 9))
    assert st.applied == 1 and st.erased_ts == 0 and st.seen == {"e1": 5} and st.profile.search == {}
    # 2: keyword folding, before erasure (no erased_ts)
    st = B.from_state((2, fields, {"e2": 6}, 0, 2, 9))
    assert st.applied == 2 and st.erased_ts == 0 and st.seen == {"e2": 6}
    assert B.from_state(B.to_state(B.UserState(erased_ts=42))).erased_ts == 42


def test_the_flink_adapter_counts_erasures():
    from udfs.flink.profile import COUNTERS
    assert {"erasure_requests", "suppressed", "erased"} <= set(COUNTERS)
