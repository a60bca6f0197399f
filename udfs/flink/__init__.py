"""The jobs' Flink functions: keyed state, timers, metrics and clocks around a core step.

``profile`` wraps ``udfs.core.profile_batch``, ``scoring`` wraps ``udfs.core.scoring``;
the jobs in ``jobs/`` wire them between sources and sinks.
"""
