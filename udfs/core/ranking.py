"""The auction: eCPM per bid type, reserve price, advertiser diversity, GSP prices.

Formulas (docs/ranking.md has worked examples):

* eCPM = effective bid x quality, quality per bid type:
  CPM 1; CPC pCTR x 1000; CPA and oCPA pCTR x pCVR x 1000.
* oCPA effective bid = bid x clamp(target_cpa / observed_cpa, ocpa_min_factor,
  ocpa_max_factor) once the campaign has ``ocpa_min_conversions`` conversions with an
  observed CPA; before that the factor is 1.
* Candidates with eCPM below the slot's reserve (or eCPM <= 0) are dropped, then at
  most ``max_ads_per_advertiser`` per advertiser are kept, in rank order.
* Order: eCPM desc, pCTR desc, creative_id asc (total and deterministic).
* Price (generalised second price): the least a winner could have bid and kept its
  rank, ``max(eCPM of the next ranked ad (or reserve if none), reserve) / own quality``,
  in its own bid type's unit (per 1000 impressions, per click, per conversion), and
  never above its own effective bid.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from udfs.core.catalog import Campaign, Catalog, Creative
from udfs.config import Scoring
from udfs.messages.ad_request import AdRequest
from udfs.messages.ranked_ads import RankedAd, RankedAds


def _prob(name: str, v: float | None, who: str, optional: bool = False) -> None:
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"candidate {who}: {name} must be a probability in [0, 1], got {v!r}")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One creative to auction, with its model predictions and its campaign's CPA history."""
    creative: Creative
    campaign: Campaign
    pctr: float
    pcvr: float | None = None            # None: Scoring.default_pcvr
    observed_cpa: float | None = None    # oCPA: realised cost per conversion so far
    conversions: int = 0                 # oCPA: conversions behind observed_cpa

    def __post_init__(self) -> None:
        _prob("pctr", self.pctr, self.creative.creative_id)
        _prob("pcvr", self.pcvr, self.creative.creative_id, optional=True)
        if self.creative.campaign_id != self.campaign.campaign_id:
            raise ValueError(f"candidate {self.creative.creative_id}: campaign "
                             f"{self.campaign.campaign_id!r} is not the creative's")


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    pcvr: float       # as used (default applied)
    bid: float        # effective bid, in the bid type's unit
    quality: float    # eCPM per unit of bid
    ecpm: float

    @property
    def creative(self) -> Creative:
        return self.candidate.creative

    def sort_key(self) -> tuple:
        return (-self.ecpm, -self.candidate.pctr, self.creative.creative_id)


def ocpa_factor(campaign: Campaign, observed_cpa: float | None, conversions: int,
                scoring: Scoring) -> float:
    """Multiplier on an oCPA bid: target_cpa / observed_cpa, clamped; 1 without enough data."""
    if (campaign.target_cpa is None or observed_cpa is None or observed_cpa <= 0
            or conversions < scoring.ocpa_min_conversions):
        return 1.0
    ratio = campaign.target_cpa / observed_cpa
    return min(max(ratio, scoring.ocpa_min_factor), scoring.ocpa_max_factor)


def quality(bid_type: str, pctr: float, pcvr: float) -> float:
    """eCPM earned per unit of bid for ``bid_type``."""
    if bid_type == "CPM":
        return 1.0
    if bid_type == "CPC":
        return pctr * 1000.0
    if bid_type in ("CPA", "oCPA"):
        return pctr * pcvr * 1000.0
    raise ValueError(f"unknown bid type {bid_type!r}")


def score(c: Candidate, scoring: Scoring) -> Scored:
    camp = c.campaign
    pcvr = scoring.default_pcvr if c.pcvr is None else c.pcvr
    bid = camp.bid
    if camp.bid_type == "oCPA":
        bid = camp.bid * ocpa_factor(camp, c.observed_cpa, c.conversions, scoring)
    q = quality(camp.bid_type, c.pctr, pcvr)
    return Scored(c, pcvr, bid, q, bid * q)


def ecpm(c: Candidate, scoring: Scoring) -> float:
    """Expected revenue per 1000 impressions of a candidate."""
    return score(c, scoring).ecpm


def cpm_equivalent(price: float, bid_type: str, pctr: float, pcvr: float) -> float:
    """Expected charge per 1000 impressions of ``price`` in ``bid_type`` units (for budgets)."""
    return price * quality(bid_type, pctr, pcvr)


def _contest(candidates: Iterable[Candidate], scoring: Scoring, slot: str) -> list[Scored]:
    """Scored candidates above reserve, ranked, at most N per advertiser, one per creative."""
    reserve = scoring.reserve_for(slot)
    scored = sorted((s for s in (score(c, scoring) for c in candidates)
                     if s.ecpm > 0 and s.ecpm >= reserve), key=Scored.sort_key)
    per_adv: Counter = Counter()
    seen: set[str] = set()
    out = []
    for s in scored:
        cr = s.creative
        if cr.creative_id in seen or per_adv[cr.advertiser_id] >= scoring.max_ads_per_advertiser:
            continue
        seen.add(cr.creative_id)
        per_adv[cr.advertiser_id] += 1
        out.append(s)
    return out


def auction(candidates: Iterable[Candidate], scoring: Scoring, *, slot: str,
            num_ads: int) -> list[RankedAd]:
    """Rank ``candidates`` and price the top ``num_ads`` by generalised second price."""
    reserve = scoring.reserve_for(slot)
    field = _contest(candidates, scoring, slot)
    out = []
    for i, s in enumerate(field[:max(num_ads, 0)]):
        next_ecpm = field[i + 1].ecpm if i + 1 < len(field) else reserve
        price_ecpm = max(next_ecpm, reserve)
        price = min(price_ecpm / s.quality, s.bid) if s.quality > 0 else 0.0
        cr = s.creative
        out.append(RankedAd(ad_id=cr.ad_id, campaign_id=cr.campaign_id, creative_id=cr.creative_id,
                            advertiser_id=cr.advertiser_id, rank=i + 1, pctr=float(s.candidate.pctr),
                            ecpm=s.ecpm, price=price))
    return out


rank = auction


# --------------------------------------------------------- contextual fallback

def prior_ctr(creative: Creative, scoring: Scoring, *,
              creative_priors: Mapping[str, float] | None = None,
              category_priors: Mapping[str, float] | None = None,
              page_category: str | None = None) -> float:
    """CTR without personal features: creative prior, else category prior, else the default,
    times ``fallback_context_boost`` when the creative's category is the page's (max 1)."""
    p = None
    if creative_priors:
        p = creative_priors.get(creative.creative_id)
    if p is None and category_priors and creative.category_id is not None:
        p = category_priors.get(creative.category_id)
    if p is None:
        p = scoring.fallback_prior_ctr
    if page_category is not None and creative.category_id == page_category:
        p *= scoring.fallback_context_boost
    return min(max(float(p), 0.0), 1.0)


def rank_fallback(creatives: Sequence[Creative], catalog: Catalog, scoring: Scoring, *,
                  slot: str, num_ads: int,
                  creative_priors: Mapping[str, float] | None = None,
                  category_priors: Mapping[str, float] | None = None,
                  page_category: str | None = None) -> list[RankedAd]:
    """Auction eligible ``creatives`` on prior CTRs (no model, no user features).

    The caller marks the response as a fallback (:func:`build_response`)."""
    cands = []
    for cr in creatives:
        camp = catalog.campaign(cr.campaign_id)
        if camp is None:
            continue
        p = prior_ctr(cr, scoring, creative_priors=creative_priors,
                      category_priors=category_priors, page_category=page_category)
        cands.append(Candidate(creative=cr, campaign=camp, pctr=p))
    return auction(cands, scoring, slot=slot, num_ads=num_ads)


# ------------------------------------------------------------------ response

def build_response(request: AdRequest, ads: Sequence[RankedAd], *, now_ms: int,
                   model_version: str, variant: str = "control", fallback: bool = False,
                   fallback_reason: str | None = None,
                   timings_ms: Mapping[str, float] | None = None) -> RankedAds:
    """The ``RankedAds`` answer to ``request`` (at most ``request.num_ads`` ads)."""
    return RankedAds(request_id=request.request_id, ts=now_ms, ads=tuple(ads[:request.num_ads]),
                     model_version=model_version, variant=variant, fallback=fallback,
                     fallback_reason=fallback_reason,
                     timings_ms={k: float(v) for k, v in (timings_ms or {}).items()})
