"""One feature list: the Feast view, the FeatureService, the scorer's featurizer and the model agree."""
import importlib.util
import sys

import pytest

from udfs import config
from tests.support.feature_repo import load_repo_file
from udfs.io import feast_store
from udfs.core import features as F
from udfs.core.featurize import Featurizer

pytestmark = pytest.mark.contract

FEAST_TYPES = {"int64": "Int64", "float": "Float64", "string": "String",
               "string_list": "Array(String)", "float_list": "Array(Float64)"}


@pytest.fixture(scope="module")
def cfg():
    return config.load("test", environ={})


@pytest.fixture(scope="module")
def repo(cfg):
    path = feast_store.repo_dir(cfg) / "user_profile.py"
    spec = importlib.util.spec_from_file_location("adstream_feature_repo", path)
    mod = importlib.util.module_from_spec(spec)
    # user_profile.py imports its sibling user_attributes.py, as Feast does (repo on sys.path)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
    return mod


def test_feast_view_schema_is_the_profile_feature_list(cfg, repo):
    windows = cfg.profile.windows.count_windows_s
    view = repo.user_profile
    assert view.name == F.FEATURE_VIEW
    assert [f.name for f in view.features] == F.profile_feature_names(windows)
    assert [str(f.dtype) for f in view.features] == [FEAST_TYPES[f.dtype] for f in F.profile_features(windows)]
    assert view.entities == [F.ENTITY] and repo.user.join_key == F.ENTITY_KEY


def test_feature_service_names_exactly_what_the_model_reads(cfg, repo):
    svc = repo.ctr_model
    assert svc.name == cfg.feast.feature_service
    projs = {p.name: p for p in svc.feature_view_projections}
    assert set(projs) == {F.FEATURE_VIEW, F.ATTRIBUTES_VIEW}
    proj = projs[F.FEATURE_VIEW]
    assert [f.name for f in projs[F.ATTRIBUTES_VIEW].features] == F.attribute_feature_names()
    served = [f.name for f in proj.features]
    assert served == F.served_profile_features(cfg.profile.windows.count_windows_s)
    # every model input that is a profile feature is served
    model = set(F.model_feature_names(cfg.profile.windows.count_windows_s))
    profile = set(F.profile_feature_names(cfg.profile.windows.count_windows_s))
    assert (model & profile) <= set(served)


def test_attribute_view_is_the_attribute_list_on_the_user_entity(cfg, repo):
    """user_attributes (features/user_attributes.py): the attribute list, the profile's entity, the
    configured ttl — so its values share the profile's Redis hash (one HMGET in the scorer)."""
    view = repo.user_attributes
    assert view.name == F.ATTRIBUTES_VIEW and view.entities == [F.ENTITY]
    assert [(f.name, str(f.dtype)) for f in view.features] == [(f.name, FEAST_TYPES[f.dtype])
                                                               for f in F.ATTRIBUTE_FEATURES]
    assert view.ttl.total_seconds() == cfg.feast.attributes_ttl_s
    from udfs.io.online_read import OnlineProfileReader
    from udfs.io.feast_values import field_name
    fields = OnlineProfileReader.fields_of(cfg)
    assert all(field_name(F.ATTRIBUTES_VIEW, n) in fields for n in F.attribute_feature_names())


def test_featurizer_produces_the_model_feature_list(cfg):
    windows = cfg.profile.windows.count_windows_s
    fz = Featurizer(windows)
    assert fz.names == F.model_feature_names(windows)
    from udfs.core.featurize import AdView, RequestView
    m = fz.matrix(None, [AdView("cr", "c", "b", 1.0, 0.01)], RequestView(0, "mobile"))
    assert m.shape == (1, len(fz.names))


def test_committed_feature_store_yaml_is_rendered_from_local_config():
    cfg = config.load("local", environ={})
    committed = (feast_store.repo_dir(cfg) / "feature_store.yaml").read_text()
    assert committed == feast_store.render_yaml(cfg), "run: adstream features yaml"


def test_trained_model_signature_and_scorer_agree_with_the_feature_list(tmp_path, repo):
    """A model trained on live features takes exactly the featurizer's columns, in order."""
    from models.pipeline import run_train
    from models.registry import check_features
    from udfs.io.onnx_scorer import OnnxScorer
    from tests.support.model_fixtures import live_dataset, model_config
    cfg = model_config()
    run_train(cfg, live_dataset(cfg, 3), tmp_path / "m", budget=1, progress=False)
    scorer = OnnxScorer(tmp_path / "m")
    windows = cfg.profile.windows.count_windows_s
    names = [f["name"] for f in scorer.signature["features"]]
    assert names == scorer.features == F.model_feature_names(windows) == Featurizer(windows).names
    assert scorer.signature["feature_service"] == cfg.feast.feature_service == repo.ctr_model.name
    check_features(scorer.signature, cfg)  # raises ModelError on any disagreement


def test_feedback_views_are_the_owned_feature_lists(cfg, repo):
    """ad_stats, campaign_stats and user_impressions: what the feedback job writes and the scorer
    reads (udfs/io/ad_stats_store.py, seen_store.py) is the list udfs/core/features.py owns."""
    stats = load_repo_file(cfg, "ad_stats.py")
    windows = cfg.feedback.stats_windows_s
    for view, feats, entity in ((stats.ad_stats, F.ad_stats_features(windows), "creative"),
                                (stats.campaign_stats, F.campaign_stats_features(windows), "campaign")):
        assert [f.name for f in view.features] == [f.name for f in feats]
        assert [str(f.dtype) for f in view.features] == [FEAST_TYPES[f.dtype] for f in feats]
        assert view.entities == [entity]
    assert stats.creative.join_key == F.CREATIVE_KEY and stats.campaign.join_key == F.CAMPAIGN_KEY
    seen = repo.user_impressions
    assert seen.name == F.SEEN_VIEW and seen.entities == [F.ENTITY]
    assert [(f.name, str(f.dtype)) for f in seen.features] == [(F.SEEN_FEATURE.name,
                                                                FEAST_TYPES[F.SEEN_FEATURE.dtype])]


def test_training_and_serving_compute_the_ad_prior_the_same_way(cfg):
    """The model's ad_ctr_prior (training: models/datasets/replay.py) and the ctr_prior the
    feedback job serves (udfs/core/ad_stats.py) are one function with the same parameters."""
    from models.datasets import replay
    from udfs.core import ad_stats
    from udfs.core.attributed import Attributed
    assert replay.smoothed_ctr is ad_stats.smoothed_ctr
    p = ad_stats.StatsParams.from_config(cfg)
    st = ad_stats.CampaignStats()
    for i in range(37):
        ad_stats.apply(st, Attributed("impression", f"i{i}", 10_000 + i, "cm", "cr", "CPC", 0.0), p)
    for i in range(4):
        ad_stats.apply(st, Attributed("click", f"k{i}", 20_000 + i, "cm", "cr", "CPC", 0.3), p)
    served = ad_stats.snapshot(st, p)[1]["cr"]["ctr_prior"]
    # training's call, with training's parameters (models/datasets/synthetic.py passes these)
    assert served == replay.smoothed_ctr(4, 37, cfg.scoring.fallback_prior_ctr, cfg.model.prior_strength)


def test_training_log_view_is_the_stores_schema_and_the_message_fills_it(cfg):
    """One owner for the training log's columns (udfs.io.training_log_store.SCHEMA): the Feast view
    serves exactly them, and every TrainingRow field lands in one of them."""
    from udfs.io import training_log_store as S
    from udfs.messages import TrainingRow
    mod = load_repo_file(cfg, "training_log.py")
    view = mod.training_log
    assert sorted(f.name for f in view.schema) == sorted(S.FEATURE_COLUMNS)
    assert view.batch_source.timestamp_field == "labelled_at" and not view.online
    assert [e for e in view.entities] == ["impression"] and mod.impression.join_key == "impression_id"
    stored = set(S.SCHEMA.names) - {"labelled_at"}
    assert set(TrainingRow.__struct_fields__) - {"labelled_ts", "schema", "v"} == stored
    assert {p.name for p in mod.training_rows.feature_view_projections} == {"training_log"}
