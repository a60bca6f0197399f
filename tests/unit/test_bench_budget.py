"""The budget benchmark's world (scripts/bench_budget.py): a catalogue the scorer accepts,
ranked so the measured campaigns win in turn and the anchor never runs out."""
from __future__ import annotations

import pytest

from scripts.bench_budget import catalogue
from udfs.core.catalog import Catalog

pytestmark = pytest.mark.unit


def test_the_catalogue_loads_and_orders_the_campaigns_by_bid_with_the_anchor_last():
    cat = Catalog.from_json(catalogue(5, 8.0, "t"))
    camps = sorted(cat.campaigns(), key=lambda c: -c.bid)
    assert [c.campaign_id for c in camps] == [f"t-c{i:02d}" for i in range(5)] + ["t-anchor"]
    assert all(c.daily_budget == 8.0 and c.bid_type == "CPM" for c in camps[:5])
    assert camps[-1].daily_budget >= 1e9
    assert len({c.advertiser_id for c in camps}) == 6          # no diversity limit between them
