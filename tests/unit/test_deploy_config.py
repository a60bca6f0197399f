"""The deploy: section (udfs/config/deploy.py): its defaults load, and each rule names its key."""
import pytest

from udfs import config
from udfs.errors import ConfigError

pytestmark = pytest.mark.unit


def test_defaults_load_from_base_yaml():
    d = config.load("test", environ={}).deploy
    assert d.config_env == "k8s" and d.checkpoint_dir.startswith("s3://")
    assert (d.parallelism.profile, d.parallelism.scoring, d.parallelism.feedback) == (1, 1, 1)
    assert config.load("test", overrides=["deploy.job_manager.cpu=2"], environ={}).deploy.job_manager.cpu == 2


@pytest.mark.parametrize("override, key", [
    ("deploy.image=adstream-flink", "deploy.image"),
    ("deploy.image=registry:5000/adstream-flink", "deploy.image"),   # a port is not a tag
    ("deploy.namespace=Ad_Stream", "deploy.namespace"),
    ("deploy.secret=", "deploy.secret"),
    ("deploy.checkpoint_dir=/local/disk", "deploy.checkpoint_dir"),
    ("deploy.shared_mount=var/adstream", "deploy.shared_mount"),
    ("deploy.task_manager.memory=lots", "deploy.task_manager.memory"),
    ("deploy.job_manager.cpu=0", "deploy.job_manager.cpu"),
    ("deploy.parallelism.feedback=0", "deploy.parallelism.feedback"),
    ("deploy.parallelism.ranking=2", "deploy.parallelism.ranking"),
    ("deploy.image_pull_policy=Sometimes", "deploy.image_pull_policy"),
])
def test_a_bad_value_names_its_key(override, key):
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=[override], environ={})
    assert e.value.key == key


def test_the_pods_overlay_needs_the_secrets_addresses():
    with pytest.raises(ConfigError) as e:
        config.load("k8s", environ={"ADSTREAM_CHECKPOINT_DIR": "s3://b/c"})
    assert e.value.key in ("kafka.host", "kafka.port", "redis.host", "redis.port")
    assert "not set in the environment" in e.value.reason
