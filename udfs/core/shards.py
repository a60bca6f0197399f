"""The profile job's virtual shards: how many there are, and whether restored state agrees.

The profile job keys its state by ``shard = hash(user_id) mod profile.shards``, a number
fixed in config and independent of the job's parallelism, so rescaling moves whole shards
(Flink key groups) between subtasks and never moves a user to another shard. Changing the
number of shards does move users, and their state left under the old shard is orphaned:
each shard records the number it was written with, and a restore under another number is
refused (``check_recorded``) rather than silently starting those users afresh.
docs/profile-job.md, "State keying and rescaling".
"""
from __future__ import annotations

from udfs.errors import AdstreamError, ConfigError


class ShardsChanged(AdstreamError):
    """Restored state was written under another ``profile.shards``: its users would be orphaned."""


def check_layout(shards: int, parallelism: int, max_parallelism: int) -> None:
    """Refuse a shard count that leaves subtasks without work or exceeds the key groups.

    Fewer shards than subtasks: some subtasks get no shard at all. More shards than key groups
    (``flink.max_parallelism``) spread no finer and only add Python calls per slice."""
    if shards < parallelism:
        raise ConfigError("profile.shards", f"{shards} is fewer than flink.parallelism ({parallelism}): "
                          "some subtasks would get no users. Raise profile.shards only for a job started "
                          "without a checkpoint (changing it orphans every user's state), or lower the "
                          "parallelism")
    if shards > max_parallelism:
        raise ConfigError("profile.shards", f"{shards} is more than flink.max_parallelism "
                          f"({max_parallelism}), the number of key groups it is spread over")


def check_recorded(recorded: int | None, shards: int, has_state: bool) -> str:
    """What a shard's first element after (re)start finds: ``ok`` (recorded = configured),
    ``record`` (nothing recorded, nothing stored: a new shard, record the number) or
    ``legacy`` (state without a record: written before shards were recorded; record and warn).
    Raises ``ShardsChanged`` when the state was written with another number of shards."""
    if recorded is None:
        return "legacy" if has_state else "record"
    if recorded != shards:
        raise ShardsChanged(
            f"restored profile state was written with profile.shards={recorded}, the job now runs with "
            f"{shards}: users would move to other shards and lose their profiles and dedupe state. "
            f"Resume with --set profile.shards={recorded}, or start without a checkpoint to re-key "
            "from scratch (every profile is then rebuilt only from the events read again)")
    return "ok"
