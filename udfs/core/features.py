"""The feature list: the single source of truth for profile and model features.

Three things derive from here and a contract test keeps them equal:
- the Feast ``user_profile`` feature view and the ``FeatureService`` (``features/``),
- the CTR model's ordered inputs (``signature.json`` written by ``models/``),
- the scorer's feature vector (``udfs.core.featurize``).

Profile features are what the profile job stores per user. Model features are
what the model reads: profile features seen from request time (recency as
"seconds since"), user×ad cross features and ad/context features.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

# What a click event can be and which device it came from are the clickstream format's
# (one owner); the features count event types and index devices in that order.
from udfs.messages.clickstream import DEVICES, EVENT_TYPES

NEVER = 0  # timestamp value meaning "no such event yet"
RECENCY_CAP_S = 30 * 86400.0  # "seconds since" for never / very old; keeps trees' splits sane

FEATURE_VIEW = "user_profile"
ENTITY = "user"
ENTITY_KEY = "user_id"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # int64 | float | string | string_list | float_list
    default: object
    doc: str


def window_label(seconds: int) -> str:
    """600 -> '10m', 3600 -> '1h', 86400 -> '24h', 45 -> '45s'."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def count_feature(event_type: str, window_s: int) -> str:
    return f"cnt_{event_type}_{window_label(window_s)}"


def profile_features(windows_s: Sequence[int]) -> tuple[Feature, ...]:
    """Columns of the ``user_profile`` feature view, in order."""
    counts = tuple(Feature(count_feature(t, w), "int64", 0,
                           f"{t} events in the {window_label(w)} before the profile's event time")
                   for w in windows_s for t in EVENT_TYPES)
    return counts + (
        Feature("top_categories", "string_list", [], "categories by decayed interest, best first"),
        Feature("top_category_scores", "float_list", [], "decayed interest of top_categories"),
        Feature("interest_total", "float", 0.0, "decayed interest summed over all categories"),
        Feature("top_brand", "string", "", "brand with most events (decayed)"),
        Feature("top_brand_share", "float", 0.0, "top brand's share of decayed brand interest"),
        Feature("last_event_ts", "int64", NEVER, "epoch ms of the latest event"),
        Feature("last_cart_ts", "int64", NEVER, "epoch ms of the latest cart event"),
        Feature("last_purchase_ts", "int64", NEVER, "epoch ms of the latest purchase"),
        Feature("session_start_ts", "int64", NEVER, "epoch ms the current session began"),
        Feature("session_events", "int64", 0, "events in the current session"),
        Feature("total_spend", "float", 0.0, "sum of purchase prices while the profile lives"),
        Feature("avg_price_viewed", "float", 0.0, "mean price of viewed items (price level)"),
        Feature("avg_price_purchased", "float", 0.0, "mean price of purchased items"),
        Feature("cart_to_purchase", "float", 0.0, "purchases / carts in the longest window"),
        Feature("view_to_cart", "float", 0.0, "carts / views in the longest window"),
    ) + SEARCH_PROFILE_FEATURES + SEGMENT_PROFILE_FEATURES


# --- interests: segments (udfs/core/segments.py, docs/interests.md) -------------------------
# The profile job's nearest-centroid segment of the profile (-1: no centroids loaded). Not a
# model input: the synthetic world gives it no signal (docs/interests.md, "Evaluation").
SEGMENT_PROFILE_FEATURES = (
    Feature("segment_id", "int64", -1, "nearest segment centroid of the profile (-1: none)"),
)
SEGMENT_SERVED = ("segment_id",)   # read by the scorer for segment targeting (udfs/core/targeting.py)
# --- end of interests: segments ----------------------------------------------------------


# --- interests: affinities and rules (models/interests/affinities.py, docs/interests.md) ---
# Written offline by `adstream interests affinities`, published by `adstream interests publish`
# into their own Feast view (features/user_affinities.py), same entity as the profile.
AFFINITY_VIEW = "user_affinities"
AFFINITY_FEATURES = (
    Feature("aff_categories", "string_list", [], "ALS: categories the user has not touched, best first"),
    Feature("aff_category_scores", "float_list", [], "ALS scores of aff_categories"),
    Feature("aff_brands", "string_list", [], "ALS: brands the user has not touched, best first"),
    Feature("aff_brand_scores", "float_list", [], "ALS scores of aff_brands"),
    Feature("rule_categories", "string_list", [], "association rules: categories bought-X-show-Y recommends"),
    Feature("rule_category_scores", "float_list", [], "best confidence of a rule recommending each"),
)
# --- end of interests: affinities and rules -----------------------------------------------


def model_features(windows_s: Sequence[int]) -> tuple[Feature, ...]:
    """The CTR model's inputs, in the order of the ONNX input tensor's columns."""
    counts = tuple(Feature(count_feature(t, w), "float", 0.0, "profile count")
                   for w in windows_s for t in EVENT_TYPES)
    return counts + (
        Feature("secs_since_last_event", "float", RECENCY_CAP_S, "request ts − last_event_ts"),
        Feature("secs_since_last_cart", "float", RECENCY_CAP_S, "request ts − last_cart_ts"),
        Feature("secs_since_last_purchase", "float", RECENCY_CAP_S, "request ts − last_purchase_ts"),
        Feature("session_events", "float", 0.0, "profile"),
        Feature("session_length_s", "float", 0.0, "last_event_ts − session_start_ts"),
        Feature("total_spend", "float", 0.0, "profile"),
        Feature("avg_price_viewed", "float", 0.0, "profile"),
        Feature("cart_to_purchase", "float", 0.0, "profile"),
        Feature("view_to_cart", "float", 0.0, "profile"),
        Feature("cat_interest", "float", 0.0, "user's decayed interest in the ad's category"),
        Feature("cat_share", "float", 0.0, "cat_interest / interest_total"),
        Feature("cat_rank", "float", 0.0, "1-based rank of the ad's category in top_categories; 0 absent"),
        Feature("brand_match", "float", 0.0, "1 when the ad's brand is the user's top brand"),
        Feature("price_ratio", "float", 0.0, "ad item price / avg_price_viewed; 0 unknown"),
        Feature("ad_ctr_prior", "float", 0.0, "smoothed historical CTR of the ad"),
        Feature("ad_price", "float", 0.0, "price of the promoted item"),
        Feature("device", "float", 0.0, "index into DEVICES"),
        Feature("position", "float", 1.0, "slot position (1 = top)"),
        Feature("hour_of_day", "float", 0.0, "UTC hour of the request"),
        Feature("page_cat_match", "float", 0.0, "1 when the page's category is the ad's category"),
        Feature("known_user", "float", 0.0, "1 when a profile was found"),
    ) + ATTRIBUTE_MODEL_FEATURES + SEARCH_MODEL_FEATURES


def profile_feature_names(windows_s: Sequence[int]) -> list[str]:
    return [f.name for f in profile_features(windows_s)]


def model_feature_names(windows_s: Sequence[int]) -> list[str]:
    return [f.name for f in model_features(windows_s)]


def served_profile_features(windows_s: Sequence[int]) -> list[str]:
    """Profile features the model needs: what the FeatureService must name."""
    model = set(model_feature_names(windows_s))
    derived_from = {"top_categories", "top_category_scores", "interest_total", "top_brand",
                    "last_event_ts", "last_cart_ts", "last_purchase_ts", "session_start_ts",
                    *SEARCH_DERIVED_FROM,
                    *SEGMENT_SERVED}
    return [f.name for f in profile_features(windows_s) if f.name in model or f.name in derived_from]


def feature_set_id(names: Sequence[str]) -> str:
    """A short name of one ordered feature list: ``fs1-`` and 16 hex digits of the SHA-256 of
    the names joined by newlines. A logged feature row carries it, so a reader can tell the
    row's columns are the list it knows (same names, same order) without shipping the names."""
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
    return f"fs1-{digest[:16]}"


# ---- user attributes and search-keyword interests (issue #18 items 1, 2, 5; docs/interests.md) ----
# One block, so the segments/affinities work can add its own beside it. The attributes are a
# view of their own (a user table loaded by `adstream users load`, not the profile job), in
# the same Redis hash as the profile (same entity), so the scorer reads both in one HMGET.
ATTRIBUTES_VIEW = "user_attributes"
# The model's codes: a value's 1-based position (0: unknown or not listed). The synthetic
# world draws from the same bands (scripts/synth/world.py); a user table may hold others,
# which targeting matches as text and the model reads as unknown.
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS = ("f", "m", "u")
MEMBERSHIP_TIERS = ("basic", "silver", "gold", "platinum")

ATTRIBUTE_FEATURES = (
    Feature("age_band", "string", "", "age band, e.g. '25-34' ('' unknown)"),
    Feature("gender", "string", "", "f | m | u ('' unknown)"),
    Feature("region", "string", "", "country/region code of the account, e.g. 'DE'"),
    Feature("registered_ts", "int64", NEVER, "epoch ms the account was registered"),
    Feature("membership_tier", "string", "", "basic | silver | gold | platinum ('' unknown)"),
)

# Search intent: decayed per-category weights from the keyword map (udfs.core.keywords).
SEARCH_PROFILE_FEATURES = (
    Feature("top_search_categories", "string_list", [], "categories by decayed search intent, best first"),
    Feature("top_search_scores", "float_list", [], "decayed search intent of top_search_categories"),
    Feature("search_intent_total", "float", 0.0, "decayed search intent summed over all categories"),
    Feature("top_search_keywords", "string_list", [], "search keywords (tokens) by decayed use, best first: "
                                                      "what keyword targeting matches"),
)
SEARCH_DERIVED_FROM = ("top_search_categories", "top_search_scores", "search_intent_total",
                       "top_search_keywords")

ATTRIBUTE_MODEL_FEATURES = (
    Feature("age_code", "float", 0.0, "1-based index of age_band in AGE_BANDS (ordinal); 0 unknown"),
    Feature("gender_f", "float", 0.0, "1 when gender is 'f'"),
    Feature("gender_m", "float", 0.0, "1 when gender is 'm'"),
    Feature("tier_code", "float", 0.0, "1-based index of membership_tier in MEMBERSHIP_TIERS; 0 unknown"),
    Feature("tenure_days", "float", 0.0, "request ts − registered_ts in days; 0 unknown"),
)
SEARCH_MODEL_FEATURES = (
    Feature("search_cat_intent", "float", 0.0, "user's decayed search intent for the ad's category"),
    Feature("search_cat_share", "float", 0.0, "search_cat_intent / search_intent_total"),
    Feature("search_intent_total", "float", 0.0, "profile"),
)


def attribute_feature_names() -> list[str]:
    """Columns of the ``user_attributes`` feature view, in order (all served: the scorer's
    targeting reads them all, the model its codes of them)."""
    return [f.name for f in ATTRIBUTE_FEATURES]


# What each user has seen, for impression-based frequency caps (udfs.core.seen): the feedback
# job writes it beside the user's profile (same entity, so the scorer reads both in one HMGET).
SEEN_VIEW = "user_impressions"
SEEN_FEATURE = Feature("seen_impressions", "string_list", [],
                       "the user's caps state from impressions: '<kind>|<user>|<id>=<ts>,…' (udfs.core.seen)")


# Live ad statistics (udfs.core.ad_stats), written by the feedback job: per creative and per campaign.
AD_STATS_VIEW = "ad_stats"
CAMPAIGN_STATS_VIEW = "campaign_stats"
CREATIVE_KEY = "creative_id"
CAMPAIGN_KEY = "campaign_id"


def _windowed_stats(windows_s: Sequence[int]) -> tuple[Feature, ...]:
    out = []
    for w in windows_s:
        label = window_label(w)
        out += [Feature(f"impressions_{label}", "int64", 0, f"attributed impressions in the last {label}"),
                Feature(f"clicks_{label}", "int64", 0, f"attributed clicks in the last {label}"),
                Feature(f"conversions_{label}", "int64", 0, f"attributed conversions in the last {label}"),
                Feature(f"spend_{label}", "float", 0.0, f"charged in the last {label}")]
    return tuple(out)


_RATES = (Feature("ctr_prior", "float", 0.0, "smoothed CTR (all impressions): the model's ad_ctr_prior"),
          Feature("cvr", "float", 0.0, "smoothed conversions per click"),
          Feature("impressions_total", "int64", 0, "attributed impressions since the job started"),
          Feature("clicks_total", "int64", 0, "attributed clicks since the job started"),
          Feature("conversions_total", "int64", 0, "attributed conversions since the job started"),
          Feature("spend_total", "float", 0.0, "charged since the job started"),
          Feature("cpa", "float", 0.0, "spend on conversions / conversions, longest window (0: none)"),
          Feature("cpa_conversions", "int64", 0, "the conversions behind cpa"),
          Feature("latest_ts", "int64", 0, "event time the values are as of (epoch ms)"))


def ad_stats_features(windows_s: Sequence[int]) -> tuple[Feature, ...]:
    """The ``ad_stats`` view (entity: creative)."""
    return (*_windowed_stats(windows_s), *_RATES)


def campaign_stats_features(windows_s: Sequence[int]) -> tuple[Feature, ...]:
    """The ``campaign_stats`` view (entity: campaign), with the spend the budget reads."""
    return (*_windowed_stats(windows_s), *_RATES,
            Feature("spend_day", "int64", -1, "UTC day (days since epoch) of spend_today"),
            Feature("spend_today", "float", 0.0, "charged on spend_day"))
