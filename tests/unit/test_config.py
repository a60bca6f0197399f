import pytest

from udfs import config
from udfs.errors import ConfigError

pytestmark = pytest.mark.unit


def test_base_and_overlay_merge():
    local = config.load("local", environ={})
    test = config.load("test", environ={})
    assert local.kafka.port == 9092 and test.kafka.port == 19092
    # untouched keys survive the overlay
    assert test.kafka.topics.clicks.name == local.kafka.topics.clicks.name == "clicks.v1"
    assert test.paths.work_dir != local.paths.work_dir


def test_env_var_overrides_port_with_yaml_typing():
    cfg = config.load("test", environ={"ADSTREAM_TEST_KAFKA_PORT": "29999"})
    assert cfg.kafka.port == 29999 and cfg.kafka.bootstrap == "127.0.0.1:29999"


def test_set_overrides_win_last():
    cfg = config.load("test", overrides=["redis.port=1234", "flink.python_execution_mode=process"], environ={})
    assert cfg.redis.port == 1234
    assert cfg.flink.python_execution_mode == "process"


def test_conf_file_overlay(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("flink:\n  parallelism: 2\n")
    assert config.load("test", files=[str(f)], environ={}).flink.parallelism == 2


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("kafka:\n  prot: 1\n")
    with pytest.raises(ConfigError) as e:
        config.load("test", files=[str(f)], environ={})
    assert e.value.key == "kafka.prot"
    assert "unknown key" in str(e.value)


def test_unknown_set_key_is_named():
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=["flink.paralelism=2"], environ={})
    assert e.value.key == "flink.paralelism"


def test_wrong_type_is_named():
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=["redis.port=abc"], environ={})
    assert e.value.key == "redis.port" and "integer" in e.value.reason


def test_unresolved_variable_names_key(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("redis:\n  host: ${NO_SUCH_VAR_FOR_ADSTREAM}\n")
    with pytest.raises(ConfigError) as e:
        config.load("test", files=[str(f)], environ={})
    assert e.value.key == "redis.host" and "NO_SUCH_VAR_FOR_ADSTREAM" in e.value.reason


def test_validation_in_section():
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=["flink.python_execution_mode=fast"], environ={})
    assert e.value.key == "flink.python_execution_mode"


def test_unknown_env_overlay():
    with pytest.raises(ConfigError) as e:
        config.load("nope", environ={})
    assert "conf/nope.yaml" in str(e.value)


def test_bad_set_syntax():
    with pytest.raises(ConfigError):
        config.load("test", overrides=["no-equals-sign"], environ={})


def test_config_is_frozen_and_round_trips():
    cfg = config.load("test", environ={})
    with pytest.raises(Exception):
        cfg.kafka.port = 1  # type: ignore[misc]
    assert config.from_dict(config.to_dict(cfg)) == cfg


def test_paths_are_made_absolute_once_by_the_loader_and_uris_are_kept():
    from udfs.config import PATH_KEYS, ROOT
    cfg = config.load("test", overrides=["flink.checkpoint_dir=s3://bucket/ckpt",
                                         "paths.data_dir=/srv/data", "scoring_job.catalog_file="])
    assert cfg.paths.work_dir == str(ROOT / ".work/test") and cfg.path("work_dir").is_absolute()
    assert cfg.jar_path("flink_connector").is_absolute() and cfg.feast.repo_dir == str(ROOT / "features")
    assert cfg.flink.checkpoint_dir == "s3://bucket/ckpt"          # a URI is Flink's to read
    assert cfg.paths.data_dir == "/srv/data"                       # absolute: as written
    assert cfg.scoring_job.catalog_file == ""                      # "" means none, not the root
    # what a worker receives names the same files, whatever its working directory
    assert config.from_dict(config.to_dict(cfg)) == cfg
    for dotted in PATH_KEYS:                                       # every listed key exists
        section, key = dotted.split(".")
        assert hasattr(getattr(cfg, section), key), dotted
