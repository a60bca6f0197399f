"""The keyed state's time-to-live, built so that it works on a standalone TaskManager too.

PyFlink 2.2.1 builds the default background-cleanup strategies when a descriptor with TTL
is turned into Java state, and the RocksDB compaction-filter default (built whenever
background cleanup is on, even if another is given) calls ``Duration.of_days(30)``, which
goes through py4j. On the embedded mini-cluster a gateway exists (the job's own JVM); in a
thread-mode worker of a standalone TaskManager there is none, and PyFlink tries to launch
one (``FileNotFoundError: 2`` in ``open``). So the defaults are switched off and the same
strategies given explicitly (Java applies explicit ones either way), with a periodic
compaction time PyFlink never reads (neither its embedded conversion nor process mode).
The cluster tests (tests/cluster/) fail if a PyFlink upgrade changes that.
"""
from __future__ import annotations

from pyflink.common import Time
from pyflink.datastream.state import StateTtlConfig

# PyFlink's own defaults for background cleanup (StateTtlConfig.CleanupStrategies).
INCREMENTAL_KEYS, ROCKSDB_QUERY_EVERY = 5, 1000
UNREAD = object()   # stands in for the periodic compaction time; any non-None value avoids py4j


def ttl_config(seconds: int) -> StateTtlConfig:
    """Expire a key's state ``seconds`` after its last write; expired state is never returned."""
    return (StateTtlConfig.new_builder(Time.seconds(seconds))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .cleanup_full_snapshot()
            .disable_cleanup_in_background()
            .cleanup_incrementally(INCREMENTAL_KEYS, False)
            .cleanup_in_rocksdb_compact_filter(ROCKSDB_QUERY_EVERY, UNREAD)
            .build())
