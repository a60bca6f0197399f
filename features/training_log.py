"""Feast definitions for the training log: an offline view over its parquet store.

The columns come from the store's one schema (``udfs.io.training_log_store.SCHEMA``); this
file only maps them to Feast types. Offline only: the feedback job writes the rows through
Kafka and ``adstream training-log write``; a training or evaluation run reads them with
``get_historical_features`` (entity: the impression), or directly with
``models.datasets.logged.training_log``.

The view's timestamp is ``labelled_at``, when a revision's labels were known, not the
impression's time (``ts``): each revision of an impression has its own, so a point-in-time
join at time T returns the labels as they were known at T — at or after the last revision,
what the direct reader returns. (Two revisions at one timestamp told apart by a created
column are not ordered reliably by Feast 0.67's dask store, and an entity row without a
matching row makes that store fail: ``models.datasets.logged.feast_training_rows`` asks
only for what exists.)
"""
from datetime import timedelta
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyarrow as pa
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Array, Float32, Float64, Int64, String
from feast.value_type import ValueType

from udfs import config as _config
from udfs.io.training_log_store import FEATURE_COLUMNS, SCHEMA

_TYPES = {pa.string(): String, pa.int64(): Int64, pa.float64(): Float64, pa.list_(pa.float32()): Array(Float32)}

impression = Entity(name="impression", join_keys=["impression_id"], value_type=ValueType.STRING,
                    description="one ad shown to one user (the ad server's impression id)")


def view(uri: str) -> FeatureView:
    """The ``training_log`` view over the store at ``uri`` (a test points it at its own)."""
    parts = urlparse(uri)
    # Feast takes a local store as a plain path (it resolves anything else against the repo)
    path = url2pathname(parts.path) if parts.scheme == "file" else uri
    source = FileSource(name="training_log_source", path=path, timestamp_field="labelled_at")
    return FeatureView(name="training_log", entities=[impression], ttl=timedelta(0), online=False,
                       source=source, description="every attributed impression with its labels and the "
                                                  "exact feature row the model scored",
                       schema=[Field(name=c, dtype=_TYPES[SCHEMA.field(c).type]) for c in FEATURE_COLUMNS])


training_log = view(_config.load().feedback.training_log_uri)
training_rows = FeatureService(name="training_rows", features=[training_log],
                               description="what a model is trained on from the served log: labels, "
                                           "feature row, model version and variant")
