"""The local standalone Flink session cluster: generated conf, start/stop by pid, status (docs/cluster.md)."""
