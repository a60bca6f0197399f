"""Feast definitions for live ad statistics: creative and campaign entities and their views.

Definitions only; the feature lists come from ``udfs.core.features`` (one owner), the windows
from the config. The feedback job writes them (udfs/io/ad_stats_store.py); the scoring job
reads them for CTR priors, oCPA and budgets.
"""
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, PushSource
from feast.types import Array, Float64, Int64, String
from feast.value_type import ValueType

from udfs import config as _config
from udfs.core import features as _f

_cfg = _config.load()
_windows = _cfg.feedback.stats_windows_s
_TYPES = {"int64": Int64, "float": Float64, "string": String,
          "string_list": Array(String), "float_list": Array(Float64)}
_TTL = timedelta(seconds=max(_windows) * 2)   # statistics nobody updated for twice the longest window

creative = Entity(name="creative", join_keys=[_f.CREATIVE_KEY], value_type=ValueType.STRING,
                  description="an ad creative")
campaign = Entity(name="campaign", join_keys=[_f.CAMPAIGN_KEY], value_type=ValueType.STRING,
                  description="an advertiser's campaign")


def _view(name: str, entity: Entity, feats, description: str) -> FeatureView:
    offline = FileSource(name=f"{name}_offline", timestamp_field="event_timestamp",
                         path=str(_cfg.path("data_dir") / "offline" / f"{name}.parquet"))
    return FeatureView(name=name, entities=[entity], ttl=_TTL, online=True, description=description,
                       schema=[Field(name=f.name, dtype=_TYPES[f.dtype], description=f.doc) for f in feats],
                       source=PushSource(name=f"{name}_push", batch_source=offline))


ad_stats = _view(_f.AD_STATS_VIEW, creative, _f.ad_stats_features(_windows),
                 "per-creative statistics from attributed feedback, written by the feedback job")
campaign_stats = _view(_f.CAMPAIGN_STATS_VIEW, campaign, _f.campaign_stats_features(_windows),
                       "per-campaign statistics and today's spend, written by the feedback job")
