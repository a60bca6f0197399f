"""The profile job's virtual shards: the layout rules, the restore check, and the settings
that keep key groups stable (udfs/core/shards.py, docs/profile-job.md)."""
from __future__ import annotations

import pytest

from udfs import config
from udfs.core import shards
from udfs.errors import ConfigError

pytestmark = pytest.mark.unit


def test_a_shard_first_seen_records_its_number_and_a_matching_one_is_ok():
    assert shards.check_recorded(None, 32, has_state=False) == "record"
    assert shards.check_recorded(32, 32, has_state=True) == "ok"
    assert shards.check_recorded(32, 32, has_state=False) == "ok"   # all its users expired


def test_state_without_a_record_is_legacy():
    assert shards.check_recorded(None, 32, has_state=True) == "legacy"


@pytest.mark.parametrize("recorded, now", [(32, 64), (64, 32), (1, 2)])
def test_state_written_under_another_number_of_shards_is_refused_with_what_to_do(recorded, now):
    with pytest.raises(shards.ShardsChanged) as e:
        shards.check_recorded(recorded, now, has_state=True)
    msg = str(e.value)
    assert f"profile.shards={recorded}" in msg and f"--set profile.shards={recorded}" in msg
    assert "without a checkpoint" in msg


def test_layout_needs_a_shard_per_subtask_and_no_more_shards_than_key_groups():
    shards.check_layout(32, 1, 128)
    shards.check_layout(32, 32, 128)
    shards.check_layout(128, 2, 128)
    with pytest.raises(ConfigError) as e:
        shards.check_layout(2, 4, 128)
    assert e.value.key == "profile.shards" and "flink.parallelism (4)" in e.value.reason
    with pytest.raises(ConfigError) as e:
        shards.check_layout(256, 2, 128)
    assert "flink.max_parallelism (128)" in e.value.reason


def test_defaults_and_their_bounds_come_from_config():
    cfg = config.load("test", environ={})
    assert cfg.profile.shards == 32 and cfg.flink.max_parallelism == 128
    shards.check_layout(cfg.profile.shards, cfg.flink.parallelism, cfg.flink.max_parallelism)
    for override, key in [("profile.shards=0", "profile.shards"),
                          ("flink.max_parallelism=32769", "flink.max_parallelism")]:
        with pytest.raises(ConfigError) as e:
            config.load("test", overrides=[override], environ={})
        assert e.value.key == key, e.value
    with pytest.raises(ConfigError) as e:   # the parallelism may not exceed the key groups
        config.load("test", overrides=["flink.parallelism=4", "flink.max_parallelism=2"], environ={})
    assert e.value.key == "flink.max_parallelism"


def test_the_mini_cluster_gets_the_configured_max_parallelism():
    from jobs.common import flink_settings
    cfg = config.load("test", overrides=["flink.max_parallelism=256"], environ={})
    assert flink_settings(cfg, "adstream-profile")["pipeline.max-parallelism"] == "256"
