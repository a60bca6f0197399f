"""The served-log record of one answer (``udfs.messages.served.ServedLog``), built from what
the scoring step already holds: the decoded request, its ``RankedAds`` answer, each ranked
ad's bid terms, and the float32 rows the model scored.

Pure: no I/O. The scoring step calls it for every answer (``udfs.core.scoring``); the
scoring job publishes the result on ``served-log.v1``. Inputs that do not fit together (another request's answer, a row
count that is not the ad count, rows that are not float32) are a caller's bug and raise
``ValueError`` naming what is wrong; a value a field's rules refuse raises the message's
``MessageError``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from udfs.core.features import feature_set_id
from udfs.messages.ad_request import AdRequest
from udfs.messages.ranked_ads import RankedAds
from udfs.messages.served import CHARGED_ON, ServedAd, ServedLog, charge_of


@dataclass(frozen=True)
class AdTerms:
    """What the auction knew of one ranked ad beyond its ``RankedAd``: its campaign's bid type,
    the effective bid (oCPA: after its factor) and the pCVR it used (None if none)."""
    bid_type: str
    bid: float
    pcvr: float | None = None


def build(request: AdRequest, answer: RankedAds, terms: Sequence[AdTerms],
          rows: np.ndarray | None, feature_names: Sequence[str], *,
          personalised: bool = True, measured: bool = True) -> ServedLog:
    """The served log of ``answer`` to ``request``.

    ``terms[i]`` and ``rows[i]`` belong to ``answer.ads[i]`` (the ad ranked i + 1). ``rows``
    is the float32 matrix the model scored, one row per ranked ad with columns in
    ``feature_names`` order, or None for an answer no model scored (its ads log empty rows).
    ``personalised``/``measured``: the request's consent decision (``udfs.core.consent``).
    """
    ads = answer.ads
    if answer.request_id != request.request_id:
        raise ValueError(f"served log: answer {answer.request_id!r} is not for request {request.request_id!r}")
    if len(terms) != len(ads):
        raise ValueError(f"served log: {len(terms)} bid terms for {len(ads)} ranked ads")
    values = _rows(rows, len(ads), len(feature_names))
    served = tuple(ServedAd(
        ad_id=ad.ad_id, campaign_id=ad.campaign_id, creative_id=ad.creative_id,
        advertiser_id=ad.advertiser_id, rank=ad.rank, bid_type=t.bid_type, bid=float(t.bid),
        pctr=ad.pctr, pcvr=None if t.pcvr is None else float(t.pcvr), ecpm=ad.ecpm, price=ad.price,
        charged_on=CHARGED_ON.get(t.bid_type, t.bid_type), charge=charge_of(t.bid_type, ad.price),
        features=tuple(row)) for ad, t, row in zip(ads, terms, values))
    return ServedLog(
        request_id=request.request_id, user_id=request.user_id, ts=answer.ts, slot=request.slot,
        model_version=answer.model_version, variant=answer.variant, fallback=answer.fallback,
        fallback_reason=answer.fallback_reason,
        feature_set=feature_set_id(feature_names) if rows is not None and len(ads) else "",
        ads=served, personalised=personalised, measured=measured)


def _rows(rows: np.ndarray | None, n_ads: int, n_features: int) -> list[list[float]]:
    """The rows as lists of floats, each the exact float64 of a float32 value."""
    if rows is None:
        return [[] for _ in range(n_ads)]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.float32:
        kind = rows.dtype if isinstance(rows, np.ndarray) else type(rows).__name__
        raise ValueError(f"served log: feature rows must be the float32 matrix the model scored, got {kind}")
    if rows.ndim != 2 or rows.shape != (n_ads, n_features):
        raise ValueError(f"served log: feature rows have shape {rows.shape}, expected "
                         f"({n_ads}, {n_features}) (one per ranked ad, one column per feature)")
    return rows.tolist()   # float32 -> Python float widens exactly
