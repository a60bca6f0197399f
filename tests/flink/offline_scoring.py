"""The scoring step with its catalogue topic held in memory, for the flink tier (no Kafka).

Importable by the job's Python workers (the repository is on their path), so the graph
runs the real adapter, ``udfs.flink.scoring.ScoringFunction``; only the consumer of the
compacted catalogue topic (``udfs.io.catalog_feed.TopicFollower``, which needs a broker at
``open``) is replaced, while ``open`` builds it, by a fixed list of records.
"""
from __future__ import annotations

from unittest import mock

from udfs.flink.scoring import ScoringFunction


class ListedTopic:
    """``TopicFollower``'s interface over a list: every record at catch-up, nothing later."""

    def __init__(self, records):
        self.records = list(records)

    def catch_up(self, timeout_s: float):
        return iter(self.records)

    def poll(self):
        return iter(())

    def close(self) -> None:
        pass


class OfflineScoring(ScoringFunction):
    """``ScoringFunction`` whose catalogue topic is ``topic_records``: (key, value) bytes pairs."""

    def __init__(self, cfg_dict: dict, catalog_file: str | None, job: str, topic_records=()):
        super().__init__(cfg_dict, catalog_file, job)
        self.topic_records = list(topic_records)

    def open(self, ctx):
        records = self.topic_records
        with mock.patch("udfs.io.catalog_feed.TopicFollower", lambda bootstrap, topic: ListedTopic(records)):
            super().open(ctx)
