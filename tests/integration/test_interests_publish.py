"""`adstream interests publish`: affinities reach Redis through Feast and read back as written."""
import uuid

import pandas as pd
import pytest

from models.interests import affinity_cli, publish
from udfs.config.interests import Affinities, Interests
from udfs.core.features import AFFINITY_FEATURES, AFFINITY_VIEW
from udfs.io import feast_store

pytestmark = pytest.mark.integration


def test_published_affinities_are_served_by_feast(stack, tmp_path):
    tag = uuid.uuid4().hex[:6]
    rows = [dict(user_id=f"p-{tag}-{u}", ts=1_764_547_200_000 + i, type="view", category_id=f"c{(u + i) % 6}",
                 brand_id=f"b{u % 3}", price=None) for u in range(12) for i in range(3)]
    table, _ = affinity_cli.build(pd.DataFrame(rows), Interests(affinities=Affinities(factors=3, top_k=2)))
    table.to_parquet(tmp_path / "affinities.parquet", index=False)
    assert publish.run(stack, tmp_path, lambda _m: None) == 0
    users = list(table["user_id"][:3])
    got = feast_store.store(stack).get_online_features(
        features=[f"{AFFINITY_VIEW}:{f.name}" for f in AFFINITY_FEATURES],
        entity_rows=[{"user_id": u} for u in users]).to_dict()
    for i, u in enumerate(users):
        want = table[table["user_id"] == u].iloc[0]
        assert got["aff_categories"][i] == list(want["aff_categories"]) and len(want["aff_categories"]) == 2
        assert got["aff_brands"][i] == list(want["aff_brands"])
        assert got["aff_category_scores"][i] == pytest.approx(list(want["aff_category_scores"]))
