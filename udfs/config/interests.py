"""The interests section (``interests:`` in conf/base.yaml): segments, collaborative affinities,
association rules and their evaluation.

Users: ``adstream interests segments|affinities|publish|evaluate`` (models/interests/) and the
profile job, which loads the segment centroids from ``segments.centroids_uri`` to give each
user a segment online (udfs/core/segments.py). A pure dataclass; the loader makes
``segments.centroids_uri`` and ``evaluate.taobao_path`` absolute when they are paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from udfs.errors import ConfigError


@dataclass(frozen=True)
class Segments:
    k_min: int = 3               # fewest segments tried
    k_max: int = 10              # most segments tried; the best silhouette in [k_min, k_max] wins
    seed: int = 7                # K-means initialisation and mini-batch order
    batch_size: int = 1024       # mini-batch K-means batch
    n_init: int = 3              # K-means restarts per k (the lowest inertia kept)
    silhouette_sample: int = 5000   # users the silhouette is computed on (it is quadratic)
    categories: int = 20         # most frequent categories whose interest share enters the vector
    # The centroids the profile job assigns segments with ("" = none: segment_id is -1).
    centroids_uri: str = ""

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError("interests.segments.k_min", "must be >= 2 and <= k_max")
        for name in ("batch_size", "n_init", "silhouette_sample", "categories"):
            if getattr(self, name) < 1:
                raise ConfigError(f"interests.segments.{name}", "must be >= 1")


@dataclass(frozen=True)
class Affinities:
    factors: int = 16            # ALS latent dimensions
    iterations: int = 15         # ALS sweeps
    regularization: float = 0.05
    alpha: float = 10.0          # confidence = 1 + alpha * weighted count (implicit feedback)
    top_k: int = 10              # affinities kept per user, per kind (category, brand)
    seed: int = 7
    # An event's weight in the interaction count, by type: intent counts more than a view.
    weights: dict[str, float] = field(default_factory=lambda: {"view": 1.0, "fav": 2.0, "cart": 3.0, "purchase": 5.0})

    def weight(self, event_type: str) -> float:
        return self.weights.get(event_type, 0.0)

    def __post_init__(self) -> None:
        for name in ("factors", "iterations", "top_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"interests.affinities.{name}", "must be >= 1")
        if self.alpha <= 0 or self.regularization < 0:
            raise ConfigError("interests.affinities.alpha", "alpha must be > 0, regularization >= 0")


@dataclass(frozen=True)
class Rules:
    min_support: float = 0.01    # share of users whose basket holds the rule's categories
    min_confidence: float = 0.1  # P(consequent | antecedent)
    min_lift: float = 1.5        # confidence / P(consequent): only rules better than chance
    max_len: int = 2             # itemset size: 2 = one category → one category
    max_rules: int = 500         # kept, by lift

    def __post_init__(self) -> None:
        if not (0 < self.min_support <= 1 and 0 < self.min_confidence <= 1):
            raise ConfigError("interests.rules.min_support", "support and confidence must be in (0, 1]")
        if self.max_len < 2 or self.max_rules < 1:
            raise ConfigError("interests.rules.max_len", "max_len must be >= 2, max_rules >= 1")


@dataclass(frozen=True)
class InterestsEvaluate:
    budget: int = 4              # hyper-parameter trials per CTR model (with and without)
    test_fraction: float = 0.25  # newest share of the Taobao sample's time span held out
    taobao_path: str = ""        # the Taobao UserBehavior CSV ("" = skip the Taobao part)

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise ConfigError("interests.evaluate.test_fraction", "must be in (0, 1)")


@dataclass(frozen=True)
class Interests:
    segments: Segments = Segments()
    affinities: Affinities = Affinities()
    rules: Rules = Rules()
    evaluate: InterestsEvaluate = InterestsEvaluate()
