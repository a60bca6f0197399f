"""Feast definitions for user profiles: entity, sources, feature view, feature service.

Definitions only (``feast apply`` imports every file here). The schema is derived
from the feature list in ``udfs.core.features``; windows and TTL come from the config.
"""
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from feast.types import Array, Float64, Int64, String
from feast.value_type import ValueType

from udfs import config as _config
from udfs.core import features as _f
from user_attributes import user_attributes   # its own file (sibling: Feast puts the repo on sys.path)

_cfg = _config.load()
_windows = _cfg.profile.windows
_TYPES = {"int64": Int64, "float": Float64, "string": String,
          "string_list": Array(String), "float_list": Array(Float64)}

user = Entity(name=_f.ENTITY, join_keys=[_f.ENTITY_KEY], value_type=ValueType.STRING,
              description="a site visitor, by pseudonymous id")

user_profile_offline = FileSource(
    name="user_profile_offline",
    path=str(_cfg.path("data_dir") / "offline" / "user_profile.parquet"),
    timestamp_field="event_timestamp",
)

user_profile_push = PushSource(name="user_profile_push", batch_source=user_profile_offline)

user_profile = FeatureView(
    name=_f.FEATURE_VIEW,
    entities=[user],
    ttl=timedelta(seconds=_windows.state_ttl_s),
    schema=[Field(name=f.name, dtype=_TYPES[f.dtype], description=f.doc)
            for f in _f.profile_features(_windows.count_windows_s)],
    source=user_profile_push,
    online=True,
    description="per-user clickstream profile written by the profile job",
)

user_impressions_offline = FileSource(
    name="user_impressions_offline",
    path=str(_cfg.path("data_dir") / "offline" / "user_impressions.parquet"),
    timestamp_field="event_timestamp",
)

user_impressions = FeatureView(
    name=_f.SEEN_VIEW,
    entities=[user],
    # the caps state is useless once the longest cap window has passed without an impression
    ttl=timedelta(seconds=max([r.window_s for r in (*_cfg.scoring.campaign_caps, *_cfg.scoring.creative_caps)],
                              default=86400)),
    schema=[Field(name=_f.SEEN_FEATURE.name, dtype=_TYPES[_f.SEEN_FEATURE.dtype], description=_f.SEEN_FEATURE.doc)],
    source=PushSource(name="user_impressions_push", batch_source=user_impressions_offline),
    online=True,
    description="what each user has seen (frequency caps on impressions), written by the feedback job",
)

ctr_model = FeatureService(
    name=_cfg.feast.feature_service,
    features=[user_profile[_f.served_profile_features(_windows.count_windows_s)],
              user_attributes[_f.attribute_feature_names()]],
    description="exactly the profile features the CTR model reads (see udfs.core.features)",
)
