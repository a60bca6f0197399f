"""Budget pacing: spread each campaign's daily budget over the day along a target curve.

Probabilistic throttling, after Agarwal et al., "Budget pacing for targeted online
advertisements at LinkedIn" (KDD 2014): each campaign has a *pass-through rate* — the share
of requests it takes part in. At every update (the scorer's statistics read, every
``scoring_job.stats_poll_ms``) the campaign's spend so far today is compared with where the
curve says it should be: ahead by more than ``pacing.tolerance`` of its daily budget, the
rate is multiplied by ``1 − step``; behind by more, by ``1 + step``; it stays within
``[min_rate, 1]``. A request takes part when a hash of (request id, campaign id) falls
below the rate, so a decision is reproducible and the same for a repeated request.

The curve (``pacing.curve``) is 24 hourly weights (UTC), normalised: ``uniform`` is 24 equal
weights, a list of 24 numbers a traffic shape. The target at time *t* is the share of the
day's weight before *t* (linear inside the hour). Pure: the adapter feeds spend and clocks.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable

from udfs.core.budget import DAY_MS

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class PacingParams:
    curve: tuple[float, ...]     # 24 hourly weights, normalised to sum to 1
    tolerance: float = 0.02      # of the daily budget: inside this band the rate does not move
    step: float = 0.2            # relative change of the rate per update
    min_rate: float = 0.01       # a throttled campaign still takes part in this share

    @classmethod
    def of(cls, curve, tolerance: float, step: float, min_rate: float) -> "PacingParams":
        weights = [1.0] * 24 if curve == "uniform" else [float(w) for w in curve]
        if len(weights) != 24 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("pacing.curve must be 'uniform' or 24 non-negative hourly weights")
        total = sum(weights)
        return cls(tuple(w / total for w in weights), tolerance, step, min_rate)

    @classmethod
    def from_config(cls, pacing) -> "PacingParams":
        """From ``cfg.scoring.pacing`` (validated there, with its keys named)."""
        return cls.of(pacing.curve, pacing.tolerance, pacing.step, pacing.min_rate)


def target_share(p: PacingParams, now_ms: int) -> float:
    """Share of the daily budget the curve allows to be spent by ``now_ms`` (UTC day)."""
    into = now_ms % DAY_MS
    hour, frac = divmod(into, HOUR_MS)
    return sum(p.curve[:hour]) + p.curve[hour] * frac / HOUR_MS


class Pacer:
    def __init__(self, params: PacingParams):
        self.p = params
        self.rates: dict[str, float] = {}
        self.active = False     # any campaign below rate 1: only then is a request's list filtered

    def update(self, campaigns: Iterable[tuple[str, float, float]], now_ms: int) -> None:
        """``campaigns``: (campaign id, daily budget, spent today) — adjust each one's rate."""
        target = target_share(self.p, now_ms)
        for cid, budget, spent in campaigns:
            if budget <= 0:
                continue
            rate = self.rates.get(cid, 1.0)
            gap = spent / budget - target
            if gap > self.p.tolerance:
                rate = max(self.p.min_rate, rate * (1.0 - self.p.step))
            elif gap < -self.p.tolerance:
                rate = min(1.0, rate * (1.0 + self.p.step))
            self.rates[cid] = rate
        self.active = any(r < 1.0 for r in self.rates.values())

    def admits(self, campaign_id: str, request_id: str) -> bool:
        rate = self.rates.get(campaign_id, 1.0)
        if rate >= 1.0:
            return True
        h = zlib.crc32(f"{request_id}|{campaign_id}".encode()) / 0xFFFFFFFF
        return h < rate
