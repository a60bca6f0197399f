"""User segments, the offline half: standardised profile vectors → mini-batch K-means, k by
silhouette, ids kept across retrains.

``fit`` builds each user's vector with ``udfs.core.segments.profile_vector`` (the one the
profile job builds online), standardises it, tries every k in ``[k_min, k_max]`` and keeps the
best silhouette (on a sample: its cost is quadratic). Users are taken in sorted id order, so
the input's row order does not matter. Ids: without a previous model the largest segment is 0,
the next 1, …; with one, the new centroids are matched to the previous ones by the Hungarian
algorithm (``scipy.optimize.linear_sum_assignment``) on squared distance, both in the new
standardisation, and each matched centroid keeps its previous id; an unmatched new one gets a
fresh id (``next_id``), an unmatched old id is retired. Labels are then given by
``udfs.core.segments.assign`` — the online rule — not by K-means' own labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import silhouette_score

from udfs.core import segments as S
from udfs.errors import ModelError


@dataclass
class Fit:
    model: S.SegmentModel
    users: list[str]
    labels: np.ndarray          # segment id per user, in ``users`` order
    raw: np.ndarray             # raw vectors, in ``users`` order
    silhouettes: dict[int, float]


def top_categories(profiles: Mapping[str, Mapping], n: int) -> tuple[str, ...]:
    """The ``n`` categories with the most interest share summed over users (ties: by name)."""
    total: dict[str, float] = {}
    for p in profiles.values():
        t = float(p.get("interest_total") or 0.0)
        if t <= 0:
            continue
        for c, s in zip(p.get("top_categories") or (), p.get("top_category_scores") or ()):
            total[c] = total.get(c, 0.0) + float(s) / t
    return tuple(c for c, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _kmeans(z: np.ndarray, k: int, cfg) -> MiniBatchKMeans:
    return MiniBatchKMeans(n_clusters=k, random_state=cfg.seed, batch_size=cfg.batch_size,
                           n_init=cfg.n_init).fit(z)


def _choose_k(z: np.ndarray, cfg, progress) -> tuple[MiniBatchKMeans, dict[int, float]]:
    n = len(z)
    ks = [k for k in range(cfg.k_min, cfg.k_max + 1) if k < n]
    if not ks:
        raise ModelError(f"{n} users: too few for k_min={cfg.k_min} segments (interests.segments.k_min)")
    scores: dict[int, float] = {}
    best = None
    for k in ks:
        km = _kmeans(z, k, cfg)
        if len(set(km.labels_)) < 2:
            scores[k] = -1.0
        else:
            scores[k] = float(silhouette_score(z, km.labels_, sample_size=min(cfg.silhouette_sample, n),
                                               random_state=cfg.seed))
        progress(f"k={k}: silhouette {scores[k]:.4f}")
        if best is None or scores[k] > scores[best.n_clusters]:
            best = km
    return best, scores


def _in_space(prev: S.SegmentModel, columns: list[str], mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The previous centroids in the new columns and standardisation (a column the previous
    model lacks sits at the new mean: 0)."""
    raw_prev = prev.centroids * prev.scale + prev.mean
    at = {c: i for i, c in enumerate(prev.columns)}
    out = np.zeros((len(prev.ids), len(columns)))
    for j, c in enumerate(columns):
        if c in at:
            out[:, j] = (raw_prev[:, at[c]] - mean[j]) / scale[j]
    return out


def match_ids(centroids: np.ndarray, sizes: np.ndarray, prev: S.SegmentModel | None,
              prev_space: np.ndarray | None) -> tuple[list[int], int]:
    """(id per new centroid row, next_id): see the module docstring."""
    if prev is None:
        order = np.argsort(-sizes, kind="stable")
        ids = [0] * len(centroids)
        for new_id, row in enumerate(order):
            ids[row] = new_id
        return ids, len(centroids)
    cost = ((centroids[:, None, :] - prev_space[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    ids = [-1] * len(centroids)
    for r, c in zip(rows, cols):
        ids[r] = prev.ids[c]
    nxt = prev.next_id
    for r in np.argsort(-sizes, kind="stable"):
        if ids[r] < 0:
            ids[r], nxt = nxt, nxt + 1
    return ids, nxt


def fit(profiles: Mapping[str, Mapping], cfg, count_features: tuple[str, ...],
        previous: S.SegmentModel | None = None, progress=lambda _msg: None) -> Fit:
    """Segments of ``profiles`` (user → snapshot); ``cfg`` is ``interests.segments``."""
    users = sorted(profiles)
    cats = top_categories(profiles, cfg.categories)
    raw = np.array([S.profile_vector(profiles[u], count_features, cats) for u in users], dtype=np.float64)
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    scale = np.where(std > 1e-12, std, 1.0)
    z = S.standardise(raw, mean, scale)
    km, scores = _choose_k(z, cfg, progress)
    centroids = km.cluster_centers_.astype(np.float64)
    sizes = np.bincount(S.nearest(z, centroids), minlength=len(centroids))
    tmp = S.SegmentModel(count_features, cats, mean, scale, centroids, tuple(range(len(centroids))), 0)
    prev_space = _in_space(previous, tmp.columns, mean, scale) if previous is not None else None
    ids, nxt = match_ids(centroids, sizes, previous, prev_space)
    order = np.argsort(ids, kind="stable")    # rows by id, so the file reads in id order
    model = S.SegmentModel(count_features, cats, mean, scale, centroids[order], tuple(ids[i] for i in order), nxt,
                           {"k": len(centroids), "users": len(users),
                            "silhouette": {str(k): round(v, 6) for k, v in scores.items()},
                            "seed": cfg.seed, "matched_to_previous": previous is not None})
    return Fit(model, users, S.assign(raw, model), raw, scores)
