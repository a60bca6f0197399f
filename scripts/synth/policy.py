"""The logging policy: which ads a request may get, which it gets, and what that costs.

It stands in for the ad server while the world is generated, and is deliberately
simple so the logged data suits off-policy learning: among creatives that are
approved, in an active campaign, scheduled at the request's UTC hour and whose
targeting matches the request, ``SLOTS[slot]`` are drawn uniformly without
replacement. Targeting follows ``udfs.core.targeting``'s rules: an empty dimension
means anyone; an unknown attribute (anonymous visitor) matches only campaigns
that do not target that dimension; interest targeting matches the user's top
``TOP_K_INTERESTS`` categories by decayed score, as observable from history.
Budgets and bids play no part; the charge is a flat CPM-equivalent of the bid.
"""
from __future__ import annotations

import numpy as np

from scripts.synth.entities import StaticWorld
from scripts.synth.world import AGE_BANDS, GENDERS, GEOS
from udfs.messages.clickstream import DEVICES

#: Slot name -> ads requested.
SLOTS = {"home_top": 1, "feed": 4, "product_side": 2, "search_top": 3}
TOP_K_INTERESTS = 3
#: Assumed rates that turn CPC/CPA bids into a CPM-equivalent charge.
PRICE_CTR, PRICE_CVR = 0.02, 0.1


class Eligibility:
    """Targeting of every creative as boolean matrices, one column per attribute value.

    The last column of the geo/age/gender matrices is "unknown" (anonymous
    visitors): only campaigns that do not target that dimension accept it.
    """

    def __init__(self, w: StaticWorld):
        camps = {c.campaign_id: c for c in w.campaigns}
        cat_index = w.category_index
        n = len(w.creatives)
        self.ok = np.zeros(n, dtype=bool)
        self.geo = np.zeros((n, len(GEOS) + 1), dtype=bool)
        self.device = np.zeros((n, len(DEVICES)), dtype=bool)
        self.age = np.zeros((n, len(AGE_BANDS) + 1), dtype=bool)
        self.gender = np.zeros((n, len(GENDERS) + 1), dtype=bool)
        self.hour = np.zeros((n, 24), dtype=bool)
        self.any_interest = np.zeros(n, dtype=bool)
        self.interest = np.zeros((n, len(w.categories)), dtype=bool)
        for i, cr in enumerate(w.creatives):
            camp = camps[cr.campaign_id]
            t = camp.targeting
            self.ok[i] = cr.review_status == "approved" and camp.status == "active"
            self._fill(self.geo[i], GEOS, t.geos)
            self._fill(self.device[i], DEVICES, t.devices, unknown=False)
            self._fill(self.age[i], AGE_BANDS, t.age_bands)
            self._fill(self.gender[i], GENDERS, t.genders)
            self.hour[i, list(camp.schedule_hours or range(24))] = True
            self.any_interest[i] = not t.interests
            self.interest[i, [cat_index[c] for c in t.interests]] = True

    @staticmethod
    def _fill(row: np.ndarray, values: tuple, wanted: tuple, unknown: bool = True) -> None:
        if not wanted:
            row[:] = True
        else:
            row[[values.index(v) for v in wanted]] = True
            if unknown:
                row[-1] = False

    def mask(self, geo: int, device: int, age: int, gender: int, hour: int,
             top_categories: np.ndarray) -> np.ndarray:
        m = (self.ok & self.geo[:, geo] & self.device[:, device] & self.age[:, age]
             & self.gender[:, gender] & self.hour[:, hour])
        interested = self.any_interest
        if len(top_categories):
            interested = interested | self.interest[:, top_categories].any(axis=1)
        return m & interested


def charge(bid_type: str, bid: float) -> float:
    """Flat CPM-equivalent charge per impression (the logging policy runs no auction)."""
    ecpm = {"CPM": bid, "CPC": bid * 1000 * PRICE_CTR}.get(bid_type, bid * 1000 * PRICE_CTR * PRICE_CVR)
    return round(ecpm / 1000.0, 6)
