"""The interests' feature lists: the user_affinities Feast view and the profile's segment_id are
the lists udfs/core/features.py owns."""

import pytest

from udfs import config
from udfs.core import features as F
from tests.support.feature_repo import load_repo_file

pytestmark = pytest.mark.contract

FEAST_TYPES = {"int64": "Int64", "float": "Float64", "string": "String",
               "string_list": "Array(String)", "float_list": "Array(Float64)"}


def test_user_affinities_view_is_the_owned_feature_list():
    cfg = config.load("test", environ={})
    repo = load_repo_file(cfg, "user_affinities.py")
    view = repo.user_affinities
    assert view.name == F.AFFINITY_VIEW and view.entities == [F.ENTITY]
    assert [(f.name, str(f.dtype)) for f in view.features] == [(f.name, FEAST_TYPES[f.dtype])
                                                               for f in F.AFFINITY_FEATURES]
    profile_repo = load_repo_file(cfg, "user_profile.py")
    assert repo.user == profile_repo.user    # one entity: Feast merges the two declarations


def test_segment_id_is_a_served_profile_feature_and_not_a_model_input():
    w = config.load("test", environ={}).profile.windows.count_windows_s
    assert "segment_id" in F.profile_feature_names(w) and "segment_id" in F.served_profile_features(w)
    assert not {f.name for f in F.AFFINITY_FEATURES} & set(F.model_feature_names(w))
    assert "segment_id" not in F.model_feature_names(w)
