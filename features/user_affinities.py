"""Feast definitions for collaborative affinities and association-rule recommendations per user.

Definitions only. The schema is ``udfs.core.features.AFFINITY_FEATURES``; the rows are written
offline by ``adstream interests affinities`` and copied to this view's parquet source and
materialised into the online store by ``adstream interests publish`` (docs/interests.md).
The entity is the profile's ``user`` (declared identically here: Feast merges equal entities).
"""
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Float64, Int64, String
from feast.value_type import ValueType

from udfs import config as _config
from udfs.core import features as _f

_cfg = _config.load()
_TYPES = {"int64": Int64, "float": Float64, "string": String,
          "string_list": Array(String), "float_list": Array(Float64)}

user = Entity(name=_f.ENTITY, join_keys=[_f.ENTITY_KEY], value_type=ValueType.STRING,
              description="a site visitor, by pseudonymous id")

user_affinities_offline = FileSource(
    name="user_affinities_offline",
    path=str(_cfg.path("data_dir") / "offline" / f"{_f.AFFINITY_VIEW}.parquet"),
    timestamp_field="event_timestamp",
)

user_affinities = FeatureView(
    name=_f.AFFINITY_VIEW,
    entities=[user],
    # a refresh is a scheduled offline job: rows older than a week are not served
    ttl=timedelta(days=7),
    schema=[Field(name=f.name, dtype=_TYPES[f.dtype], description=f.doc) for f in _f.AFFINITY_FEATURES],
    source=user_affinities_offline,
    online=True,
    description="ALS affinities (unseen categories/brands) and rule recommendations, from adstream interests",
)
