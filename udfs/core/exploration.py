"""Exploration for ads with little data: Thompson sampling over a Beta posterior of their CTR.

A new creative's pCTR is the model's guess; ranked greedily, a guess a little too low is
never shown, so never corrected. In an explored request (a share ``rate`` of requests,
chosen by a hash of the request id, so a replay explores the same ones), every candidate
with fewer than ``max_impressions`` attributed impressions bids with a CTR drawn from

    Beta(s·p + clicks, s·(1 − p) + impressions − clicks)

— the model's pCTR ``p`` as the prior mean, worth ``s = prior_strength`` impressions,
updated by what the feedback loop has counted. Early on the draws spread wide and the ad
wins some auctions; as impressions accrue the posterior narrows around its observed CTR:
a worse ad stops winning by itself, a better one keeps winning and soon leaves
exploration (at ``max_impressions``) with a CTR prior the model already sees.
Everything else in the auction (reserve, diversity, caps, pricing) is unchanged; the
served log records the CTR the auction used.

Pure: the counts come from the live statistics (``udfs.core.live_stats``), the random
draws from a generator seeded by the request id (reproducible answers, tests without luck).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExplorationParams:
    rate: float = 0.0                # share of requests explored; 0 = off
    max_impressions: int = 2000      # an ad with this many attributed impressions is not explored
    prior_strength: float = 50.0     # the model's pCTR is worth this many impressions

    @classmethod
    def from_config(cls, e) -> "ExplorationParams":
        return cls(e.rate, e.max_impressions, e.prior_strength)


def _unit(request_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"),
                                          digest_size=8, person=b"explore").digest(), "big")


def explores(request_id: str, rate: float) -> bool:
    """Whether this request is one of the explored share (a pure function of its id)."""
    return rate > 0.0 and (rate >= 1.0 or _unit(request_id) / 2.0 ** 64 < rate)


def thompson(pctr: np.ndarray, impressions: np.ndarray, clicks: np.ndarray, params: ExplorationParams,
             request_id: str) -> tuple[np.ndarray, int]:
    """``pctr`` with each young candidate's entry replaced by a posterior draw; and how many
    were drawn. Counts are clipped into a valid posterior (clicks ≤ impressions, both ≥ 0)."""
    imps = np.maximum(np.asarray(impressions, dtype=np.float64), 0.0)
    young = np.flatnonzero(imps < params.max_impressions)
    if young.size == 0:
        return pctr, 0
    clk = np.minimum(np.maximum(np.asarray(clicks, dtype=np.float64)[young], 0.0), imps[young])
    p = np.clip(pctr[young], 1e-6, 1 - 1e-6)
    s = params.prior_strength
    rng = np.random.default_rng(_unit(request_id))
    out = np.array(pctr, dtype=np.float64)
    out[young] = rng.beta(s * p + clk, s * (1.0 - p) + imps[young] - clk)
    return out, int(young.size)
