"""The experiment report's section of the configuration (``experiment_report:`` in conf/base.yaml).

A section of its own, like ``ope``: only ``adstream experiment report`` (models/experiment_report.py)
reads it. These are the statistics' choices, fixed before anyone looks at the data — the
always-valid test's guarantee holds only if its tuning does not follow the results. A pure
dataclass.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.errors import ConfigError

METRICS = ("ctr", "revenue_per_request")


@dataclass(frozen=True)
class ExperimentReport:
    alpha: float = 0.05            # error rate of the always-valid test; every interval is at 1 - alpha
    # The total users (all variants) the confidence sequence is tuned for: narrowest around there.
    # Any value keeps the guarantee; a far-off one only widens the band. Set it when planning.
    planned_users: int = 20000
    min_users: int = 100           # per variant, before a look counts (the normal approximation needs data)
    peeks: int = 40                # looks computed over the data's time span (the curve, the running p-value)
    primary_metric: str = "ctr"    # the lift the verdict is about: ctr or revenue_per_request
    srm_p: float = 0.001           # a sample-ratio p-value below this is reported as a mismatch

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ConfigError("experiment_report.alpha", "must be in (0, 0.5), e.g. 0.05")
        if self.planned_users < 1:
            raise ConfigError("experiment_report.planned_users", "must be >= 1")
        if self.min_users < 2:
            raise ConfigError("experiment_report.min_users", "must be >= 2 (a variance needs two users)")
        if not 1 <= self.peeks <= 1000:
            raise ConfigError("experiment_report.peeks", "must be in [1, 1000]")
        if self.primary_metric not in METRICS:
            raise ConfigError("experiment_report.primary_metric", f"must be one of {', '.join(METRICS)}")
        if not 0 < self.srm_p < 1:
            raise ConfigError("experiment_report.srm_p", "must be in (0, 1), e.g. 0.001")
