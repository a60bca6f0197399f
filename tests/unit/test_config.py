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
        *sections, key = dotted.split(".")
        node = cfg
        for section in sections:                                   # nested: flink.cluster.savepoint_dir, interests.segments.…
            node = getattr(node, section)
        assert hasattr(node, key), dotted
    assert cfg.flink.cluster.savepoint_dir == str(ROOT / ".work/test/savepoints")


# ------------------------------------------------------------------ error paths

def _error(**kw) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        config.load("test", environ={}, **kw)
    return e.value


@pytest.mark.parametrize("override, key, reason", [
    # a section's own rule, its key relative to the section: the path is put in front
    ("scoring.campaign_caps=[{window_s: 60, limit: 1}, {window_s: 0, limit: 1}]",
     "scoring.campaign_caps[1].window_s", "must be >= 1"),
    ("scoring.review.title_min_len=0", "scoring.review.title_min_len", "must be >= 1"),
    ("scoring_job.onnx_threads=0", "scoring_job.onnx_threads", "must be >= 1"),
    ("dead_letter.max_bytes=1", "dead_letter.max_bytes", "must be >="),   # already absolute: kept
    # types, inside lists and mappings too
    ("scoring.creative_caps=[{window_s: 60, limit: x}]", "scoring.creative_caps[0].limit", "expected an integer"),
    ("scoring.slot_reserve_ecpm={home: 1.0, top: many}", "scoring.slot_reserve_ecpm.top", "expected a number"),
    ("redis.port=1.5", "redis.port", "expected an integer, got 1.5"),
    ("flink.parallelism=true", "flink.parallelism", "expected an integer, got True"),
    ("kafka.acks=true", "kafka.acks", "expected a string, got True"),
    ("kafka=3", "kafka", "expected a mapping, got int"),
    # unknown and missing keys
    ("scoring.campaign_caps=[{window_s: 60, limit: 1, windw: 2}]", "scoring.campaign_caps[0].windw", "unknown key"),
    ("scoring.campaign_caps=[{window_s: 60}]", "scoring.campaign_caps[0].limit", "missing required key"),
])
def test_errors_name_the_key_path(override, key, reason):
    err = _error(overrides=[override])
    assert err.key == key and reason in err.reason, (err.key, err.reason)
    assert f"'{key}'" in str(err)


def test_missing_section_key_is_named():
    data = config.to_dict(config.load("test", environ={}))
    del data["kafka"]["port"]
    with pytest.raises(ConfigError) as e:
        config.from_dict(data)
    assert (e.value.key, e.value.reason) == ("kafka.port", "missing required key")


def test_defaults_and_types_as_declared():
    cfg = config.load("test", overrides=["kafka.acks=1", "scoring.reserve_ecpm=2"], environ={})
    assert cfg.kafka.acks == "1"                                  # a number given to a text setting: its text
    assert cfg.scoring.reserve_ecpm == 2.0 and type(cfg.scoring.reserve_ecpm) is float
    assert cfg.scoring.campaign_caps[0] == config.CapRule(window_s=3600, limit=5)
    assert isinstance(cfg.scoring.campaign_caps, tuple) and cfg.messages == config.Messages()
    assert cfg.logs == config.Logs() and cfg.dead_letter == config.DeadLetters()
