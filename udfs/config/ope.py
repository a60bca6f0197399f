"""Off-policy evaluation's section of the configuration (``ope:`` in conf/base.yaml).

A section of its own, like each of the others (``schema`` assembles them into
:class:`~udfs.config.schema.Config`): only ``adstream model ope`` (models/ope_report.py) reads
it. A pure dataclass; the loader makes ``openbandit_dir`` absolute (``PATH_KEYS``).
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError


@dataclass(frozen=True)
class Ope:
    # The Open Bandit Dataset's root (holding random/<campaign>/); `--data openbandit` reads it.
    openbandit_dir: str = ""
    confidence: float = 0.95     # two-sided level of every interval the estimators report
    # Importance weights pi/p above this are cut to it: less variance, some bias (downwards for
    # clicks). 0 = no clipping, so the estimates stay unbiased.
    max_weight: float = 0.0
    eval_fraction: float = 0.5   # the newest share of the log is evaluated on; the rest trains the reward model
    strength: float = 20.0       # pseudo-count of the reward model's smoothed click rates (item, user, position)

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1:
            raise ConfigError("ope.confidence", "must be in [0.5, 1), e.g. 0.95")
        if self.max_weight < 0 or 0 < self.max_weight < 1:
            raise ConfigError("ope.max_weight", "must be 0 (no clipping) or >= 1 (a weight pi/p to clip at)")
        if not 0 < self.eval_fraction < 1:
            raise ConfigError("ope.eval_fraction", "must be in (0, 1): rows must remain on both sides")
        if self.strength <= 0:
            raise ConfigError("ope.strength", "must be > 0")
