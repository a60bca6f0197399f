"""Time-ordered train / validation / test split — never shuffled across time.

Rows are sorted by time (stably, so file order breaks ties) and cut into three
contiguous blocks, oldest first. A cut never separates rows with the same
timestamp (impressions of one request stay on one side). The forward-chaining
folds for the search are cut the same way inside the training block: each fold
trains on the past and validates on the block after it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray   # row indices, time-ordered
    valid: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _cut(ts_sorted: np.ndarray | None, i: int) -> int:
    """Move cut ``i`` forward past rows sharing the timestamp of row ``i - 1``."""
    if ts_sorted is None or i <= 0 or i >= len(ts_sorted):
        return i
    return int(np.searchsorted(ts_sorted, ts_sorted[i - 1], side="right"))


def time_split(ts: np.ndarray | None, n: int, valid_fraction: float, test_fraction: float) -> Split:
    order = np.arange(n) if ts is None else np.argsort(ts, kind="stable")
    ts_sorted = None if ts is None else np.asarray(ts)[order]
    a = _cut(ts_sorted, int(round(n * (1 - valid_fraction - test_fraction))))
    b = max(a, _cut(ts_sorted, int(round(n * (1 - test_fraction)))))
    if a == 0 or b == a or b == n:
        raise ValueError(f"too few rows ({n}) or distinct times to split train/valid/test")
    return Split(order[:a], order[a:b], order[b:])


def forward_folds(train: np.ndarray, ts: np.ndarray | None, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` expanding-window folds over time-ordered ``train``: (past rows, the next block)."""
    n = len(train)
    ts_sorted = None if ts is None else np.asarray(ts)[train]
    bounds = [_cut(ts_sorted, int(round(n * i / (k + 1)))) for i in range(1, k + 2)]
    folds = []
    for i in range(k):
        lo, hi = bounds[i], bounds[i + 1]
        if lo > 0 and hi > lo:
            folds.append((train[:lo], train[lo:hi]))
    return folds
