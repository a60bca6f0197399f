"""The auction of ``udfs/core/ranking.py`` over numpy arrays: the same ads, prices and order, bit for bit.

``ranking.auction`` is the specification (one ``Candidate`` and one ``Scored`` object
per creative, then a sort); it cost half of the scoring step's CPU with 100
candidates a request. Here the per-creative facts (bid, bid type, advertiser, the
creative id's sort position) are columns of an ``AdBook`` built once per catalogue
version, and a request's eCPMs are one vector expression with the same floating-point
operations in the same order, so every figure is identical. Python only walks the
sorted candidates until ``num_ads + 1`` have passed the diversity rule (the last one
prices the one before it). ``tests/unit/test_auction_arrays.py`` compares both on
random catalogues with ties, every bid type, oCPA statistics, reserves and diversity.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from udfs.core.catalog import Campaign, Catalog, Creative
from udfs.config import Scoring
from udfs.messages.ranked_ads import RankedAd
from udfs.core.ranking import ocpa_factor

CPM, CPC, CPA, OCPA = 0, 1, 2, 3
_CODES = {"CPM": CPM, "CPC": CPC, "CPA": CPA, "oCPA": OCPA}

CpaLookup = Callable[[str], "tuple[float | None, int]"]


class AdBook:
    """The auction's (and featurizer's) view of every creative with a campaign, as columns."""

    def __init__(self, catalog: Catalog):
        pairs = [(cr, camp) for cr in catalog.creatives()
                 if (camp := catalog.campaign(cr.campaign_id)) is not None]
        self.creatives: list[Creative] = [cr for cr, _ in pairs]
        self.campaigns: list[Campaign] = [camp for _, camp in pairs]
        self.index = {cr.creative_id: i for i, cr in enumerate(self.creatives)}
        self.bid = np.array([camp.bid for camp in self.campaigns], dtype=np.float64)
        self.bid_type = np.array([_CODES[camp.bid_type] for camp in self.campaigns], dtype=np.int8)
        by_id = sorted(range(len(self.creatives)), key=lambda i: self.creatives[i].creative_id)
        self.id_order = np.empty(len(self.creatives), dtype=np.int64)
        self.id_order[by_id] = np.arange(len(self.creatives))
        self.key = (id(catalog), catalog.version)

    def positions(self, creatives: Sequence[Creative]) -> np.ndarray:
        """Row of each creative (KeyError for one without a campaign: the caller's bug)."""
        return np.fromiter((self.index[c.creative_id] for c in creatives), dtype=np.int64,
                           count=len(creatives))


_NAMES = {v: k for k, v in _CODES.items()}


def auction(book: AdBook, rows: np.ndarray, pctr: np.ndarray, scoring: Scoring, *, slot: str,
            num_ads: int, cpa: CpaLookup | None = None, terms: list | None = None) -> list[RankedAd]:
    """``ranking.auction`` of the creatives at ``rows`` with ``pctr`` each (default pCVR).

    ``cpa(campaign_id) -> (observed_cpa, conversions)`` feeds the oCPA factor (none: 1).
    ``terms``, when given, receives per returned ad ``(j, bid type, effective bid, pCVR or
    None)``, ``j`` being its index in ``rows`` (so in the scored matrix): the served log's."""
    pctr = np.asarray(pctr, dtype=np.float64)
    if not np.all((pctr >= 0.0) & (pctr <= 1.0)):   # NaN fails both
        bad = int(np.flatnonzero(~((pctr >= 0.0) & (pctr <= 1.0)))[0])
        raise ValueError(f"candidate {book.creatives[rows[bad]].creative_id}: pctr must be a "
                         f"probability in [0, 1], got {float(pctr[bad])!r}")
    reserve = scoring.reserve_for(slot)
    bt = book.bid_type[rows]
    bid = book.bid[rows]
    ocpa = np.flatnonzero(bt == OCPA)
    for j in ocpa:   # few campaigns bid oCPA; their factor needs the campaign's history
        camp = book.campaigns[rows[j]]
        observed, conversions = cpa(camp.campaign_id) if cpa is not None else (None, 0)
        bid[j] = camp.bid * ocpa_factor(camp, observed, conversions, scoring)
    # ranking.quality, term by term in the same order: (pctr x pcvr) x 1000
    quality = np.where(bt == CPM, 1.0, np.where(bt == CPC, pctr * 1000.0,
                                                 pctr * scoring.default_pcvr * 1000.0))
    ecpm = bid * quality
    live = np.flatnonzero((ecpm > 0) & (ecpm >= reserve))
    # ranking.Scored.sort_key: eCPM desc, pCTR desc, creative id asc (lexsort: last key first)
    order = live[np.lexsort((book.id_order[rows[live]], -pctr[live], -ecpm[live]))]
    field: list[int] = []
    per_adv: dict[str, int] = {}
    seen: set[str] = set()
    want = max(num_ads, 0) + 1
    for j in order.tolist():
        cr = book.creatives[rows[j]]
        n = per_adv.get(cr.advertiser_id, 0)
        if cr.creative_id in seen or n >= scoring.max_ads_per_advertiser:
            continue
        seen.add(cr.creative_id)
        per_adv[cr.advertiser_id] = n + 1
        field.append(j)
        if len(field) == want:
            break
    out = []
    for i, j in enumerate(field[:max(num_ads, 0)]):
        e, q, b = float(ecpm[j]), float(quality[j]), float(bid[j])
        next_ecpm = float(ecpm[field[i + 1]]) if i + 1 < len(field) else reserve
        price = min(max(next_ecpm, reserve) / q, b) if q > 0 else 0.0
        cr = book.creatives[rows[j]]
        if terms is not None:
            code = int(bt[j])
            terms.append((j, _NAMES[code], b, scoring.default_pcvr if code in (CPA, OCPA) else None))
        out.append(RankedAd(ad_id=cr.ad_id, campaign_id=cr.campaign_id, creative_id=cr.creative_id,
                            advertiser_id=cr.advertiser_id, rank=i + 1, pctr=float(pctr[j]),
                            ecpm=e, price=price))
    return out
