"""Feast definitions for user attributes: who the user is (age band, gender, region, registration,
membership tier), from a user table, not from behaviour.

Definitions only (``feast apply`` imports every file here). The schema is the attribute list in
``udfs.core.features`` (``ATTRIBUTE_FEATURES``); the table is the parquet file that
``adstream users load`` validates and copies to ``<paths.data_dir>/offline/user_attributes.parquet``,
then materialises into the online store (docs/interests.md). The entity is the profile's
``user`` (same join key, so the values land in the same Redis hash and the scorer reads them
in the same HMGET): declared inline here, not as a module attribute, because a view keeps only
its entities' names and ``user_profile.py`` registers the entity itself.
"""
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

from udfs import config as _config
from udfs.core import features as _f
from udfs.io import attributes_store as _attributes_store

_cfg = _config.load()
_TYPES = {"int64": Int64, "float": Float64, "string": String}

user_attributes_offline = FileSource(
    name="user_attributes_offline",
    path=str(_attributes_store.offline_path(_cfg)),
    timestamp_field="event_timestamp",
)

user_attributes = FeatureView(
    name=_f.ATTRIBUTES_VIEW,
    entities=[Entity(name=_f.ENTITY, join_keys=[_f.ENTITY_KEY], value_type=ValueType.STRING)],
    ttl=timedelta(seconds=_cfg.feast.attributes_ttl_s),
    schema=[Field(name=f.name, dtype=_TYPES[f.dtype], description=f.doc) for f in _f.ATTRIBUTE_FEATURES],
    source=user_attributes_offline,
    online=True,
    description="per-user attributes from the user table (adstream users load); personal data: "
                "read only with personalisation consent (docs/privacy.md)",
)
