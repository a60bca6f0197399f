"""User segments, the online half: a profile's vector and its nearest centroid.

A :class:`SegmentModel` is what ``adstream interests segments`` (models/interests/segments.py)
learns: the categories whose interest share enters the vector, the standardisation (mean and
scale per column) and one centroid per segment id, in standardised space. Offline, the report
and the evaluation assign every user with :func:`assign`; online, the profile job gives each
snapshot ``segment_id = segment_of(snapshot, model)``, which is :func:`assign` on one row. One
function, so a user's online segment is the one the offline job would give them.

The vector of a profile snapshot (the mapping ``udfs.core.profile.snapshot`` returns):
``log1p`` of each event type's count in the longest window, ``log1p`` of the mean viewed
price, and for each of the model's categories its share of the user's decayed interest
(0 when the category is not among the user's top categories). Pure: numpy only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

FORMAT = "adstream-segments/1"
NO_SEGMENT = -1     # no model loaded, or no profile: the segment_id feature's default


@dataclass(frozen=True)
class SegmentModel:
    count_features: tuple[str, ...]    # profile count columns, e.g. cnt_view_24h
    categories: tuple[str, ...]        # categories whose interest share is a column
    mean: np.ndarray                   # per column of the raw vector
    scale: np.ndarray                  # per column; > 0
    centroids: np.ndarray              # (k, columns), standardised
    ids: tuple[int, ...]               # the segment id of each centroid row
    next_id: int                       # the id a new segment of the next retrain gets
    meta: Mapping = None               # how it was trained (k tried, silhouettes, source): for people

    def __post_init__(self) -> None:
        # the ids as an array once: the profile job assigns one snapshot at a time
        object.__setattr__(self, "_id_array", np.asarray(self.ids, dtype=np.int64))

    @property
    def columns(self) -> list[str]:
        return ([f"log1p_{c}" for c in self.count_features] + ["log1p_avg_price_viewed"]
                + [f"share:{c}" for c in self.categories])

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "count_features": list(self.count_features),
                           "categories": list(self.categories), "mean": self.mean.tolist(),
                           "scale": self.scale.tolist(), "centroids": self.centroids.tolist(),
                           "ids": list(self.ids), "next_id": self.next_id, "meta": dict(self.meta or {})},
                          indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SegmentModel":
        """Raises ValueError when the text is not a segments file of this format."""
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a segments file (format {d.get('format') if isinstance(d, dict) else '?'!r}, "
                             f"expected {FORMAT!r})")
        m = cls(tuple(d["count_features"]), tuple(d["categories"]), np.asarray(d["mean"], dtype=np.float64),
                np.asarray(d["scale"], dtype=np.float64), np.asarray(d["centroids"], dtype=np.float64),
                tuple(int(i) for i in d["ids"]), int(d["next_id"]), d.get("meta") or {})
        width = len(m.columns)
        if m.mean.shape != (width,) or m.scale.shape != (width,) or m.centroids.shape != (len(m.ids), width):
            raise ValueError(f"segments file: shapes disagree with its {width} columns")
        return m


def _num(p: Mapping, name: str) -> float:
    v = p.get(name)
    return 0.0 if v is None else float(v)


def profile_vector(profile: Mapping, count_features: Sequence[str], categories: Sequence[str]) -> list[float]:
    """The raw (not standardised) vector of one profile snapshot; see the module docstring."""
    out = [math.log1p(max(_num(profile, c), 0.0)) for c in count_features]
    out.append(math.log1p(max(_num(profile, "avg_price_viewed"), 0.0)))
    total = _num(profile, "interest_total")
    share = dict.fromkeys(categories, 0.0)
    if total > 0:
        for cat, score in zip(profile.get("top_categories") or (), profile.get("top_category_scores") or ()):
            if cat in share:
                share[cat] = float(score) / total
    return out + [share[c] for c in categories]


def standardise(raw: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (np.asarray(raw, dtype=np.float64) - mean) / scale


def nearest(z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Row index of the nearest centroid (squared Euclidean) for each row of ``z``; ties: the
    lower index."""
    d = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


def assign(raw: np.ndarray, model: SegmentModel) -> np.ndarray:
    """Segment ids of raw vectors (rows of :func:`profile_vector`): the offline and online rule."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[None, :]
    return model._id_array[nearest((raw - model.mean) / model.scale, model.centroids)]


def segment_of(profile: Mapping | None, model: SegmentModel | None) -> int:
    """The segment id of one profile snapshot (:data:`NO_SEGMENT` without a model or profile)."""
    if model is None or not profile:
        return NO_SEGMENT
    return int(assign([profile_vector(profile, model.count_features, model.categories)], model)[0])
