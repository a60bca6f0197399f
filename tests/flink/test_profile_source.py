"""The profile job's source columns on in-memory input: only an event time inside the bounds
becomes the row's time, so no record can move the watermark ahead of the clock, and no value
makes the computed columns throw."""
import json
import time

import pytest

from udfs import config

pytestmark = pytest.mark.flink


def test_event_time_outside_the_bounds_is_epoch_zero_and_flagged_ahead():
    from jobs.common import table_env
    from tests.flink.helpers import collect_rows, collection_source
    cfg = config.load("test")
    env, tenv = table_env(cfg, "test-profile-source")
    now = int(time.time() * 1000)
    cases = {
        "on_time": now - 5_000,
        "just_inside_skew": now + cfg.messages.max_future_skew_ms - 60_000,
        "ten_years_ahead": now + 10 * 365 * 86_400_000,
        "int64_max": 2 ** 63 - 1,
        "beyond_int64": 2 ** 80,
        "before_min": cfg.messages.min_ts_ms - 1,
        "very_negative": -(2 ** 62),
        "not_a_number": "soon",
    }
    lines = [json.dumps({"user_id": name, "ts": ts}) for name, ts in cases.items()]
    lines += ["{broken", json.dumps({"user_id": "no_ts"})]
    collection_source(env, tenv, cfg, "src", lines)
    rows = {r[0]: (r[1], r[2]) for r in collect_rows(tenv.sql_query(
        "SELECT uid, ahead, CAST(UNIX_TIMESTAMP(CAST(rt AS STRING)) AS BIGINT) FROM src"))}
    epoch = rows["before_min"][1]          # epoch 0 in the session's time zone, in seconds
    assert rows["on_time"] == (False, (now - 5_000) // 1000 + epoch)
    assert rows["just_inside_skew"][0] is False and rows["just_inside_skew"][1] > now // 1000 + epoch
    for name in ("ten_years_ahead", "int64_max"):
        assert rows[name] == (True, epoch), name
    for name in ("beyond_int64", "before_min", "very_negative", "not_a_number", "no_ts"):
        assert rows[name] == (False, epoch), name
    assert rows[""] == (False, epoch)      # unparseable: no user, no time, no exception
