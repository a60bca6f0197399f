"""The local stack: a Kafka broker (KRaft) from the jars and Debian's redis-server, started and
stopped by pid, and the topics the config names (``control``). Run through ``adstream stack``."""
