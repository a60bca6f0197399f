"""Adapters to the outside world: Feast and Redis, Kafka, onnxruntime, log files.

Thin: they move values between a service and the core's types, and hold no business
rules. They run outside Flink too (scripts, the training package, tests), so none of
them imports PyFlink.
"""
