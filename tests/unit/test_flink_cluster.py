"""The standalone cluster's generated settings, the `flink run` command line and URI handling
(no JVM: what `adstream flink up` writes and `--target cluster` runs, checked as data)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jobs import common, submit
from jobs.cluster_files import Layout, cluster_settings, write_conf
from scripts.cli.flink import format_status
from udfs import config
from udfs.errors import ConfigError, StackError


@pytest.fixture
def cfg():
    return config.load("test", environ={})


def test_cluster_conf_is_rocksdb_incremental_with_uri_dirs_and_a_bounded_restart(cfg):
    s = cluster_settings(cfg, Layout(Path("/x")))
    assert s["state.backend.type"] == "rocksdb" and s["execution.checkpointing.incremental"] == "true"
    assert s["execution.checkpointing.dir"] == Path(cfg.flink.checkpoint_dir).as_uri()
    assert s["execution.checkpointing.savepoint-dir"].startswith("file:///")
    assert s["restart-strategy.type"] == "fixed-delay"
    assert s["restart-strategy.fixed-delay.attempts"] == str(cfg.flink.restart_attempts)
    assert s["rest.port"] == "18081" and s["jobmanager.rpc.port"] == "18123"
    assert s["taskmanager.numberOfTaskSlots"] == str(cfg.flink.cluster.slots_per_taskmanager)


def test_an_object_store_dir_is_kept_as_written():
    cfg = config.load("test", overrides=["flink.checkpoint_dir=s3://b/ckpt",
                                         "flink.cluster.savepoint_dir=s3://b/sp/"], environ={})
    s = cluster_settings(cfg, Layout(Path("/x")))
    assert s["execution.checkpointing.dir"] == "s3://b/ckpt"
    assert s["execution.checkpointing.savepoint-dir"] == "s3://b/sp"
    assert common.flink_settings(cfg, "j")["execution.checkpointing.dir"] == "s3://b/ckpt/j"
    assert common.uri("/a/b/") == "file:///a/b" and common.uri("file:///a") == "file:///a"


def test_resume_says_it_scans_only_local_dirs():
    cfg = config.load("test", overrides=["flink.checkpoint_dir=s3://b/ckpt"], environ={})
    with pytest.raises(StackError, match="only in a local directory"):
        common.latest_checkpoint(cfg, "adstream-profile")


def test_write_conf_links_the_wheel_python_jar_and_connector(cfg, tmp_path):
    if not cfg.jar_path("flink_connector").exists():
        pytest.skip("connector jar not fetched (make setup)")
    lay = Layout(tmp_path)
    write_conf(cfg, lay)
    names = {p.name for p in lay.lib.iterdir()}
    assert any(n.startswith("flink-dist-") for n in names)
    assert any(n.startswith("flink-python-") for n in names)
    assert cfg.jar_path("flink_connector").name in names
    text = (lay.conf / "config.yaml").read_text()
    assert "env.java.opts.all: --add-exports" in text and "state.backend.type: rocksdb" in text
    assert (lay.conf / "log4j-console.properties").exists()


def test_on_a_cluster_the_job_leaves_jars_backend_and_memory_to_the_cluster(cfg):
    local, cluster = common.flink_settings(cfg, "j"), common.flink_settings(cfg, "j", cluster=True)
    for key in ("pipeline.jars", "state.backend.type", "taskmanager.memory.managed.size",
                "python.executable"):
        assert key in local and key not in cluster
    assert cluster["restart-strategy.type"] == local["restart-strategy.type"]


def test_flink_run_command_ships_the_code_and_the_venv(cfg, tmp_path):
    cmd = submit.flink_run_command(cfg, "jobs.scoring", tmp_path / "c.json", "adstream-scoring",
                                   ["--catalog", "/c.json"], "file:///sp/savepoint-1", tmp_path)
    assert cmd[1:5] == ["run", "-m", "127.0.0.1:18081", "-d"]
    opt = dict(zip(cmd, cmd[1:]))
    assert opt["-pym"] == "jobs.scoring" and opt["-pyexec"] == sys.executable == opt["-pyclientexec"]
    site, kept = opt["-pypath"].split(":")
    assert site.endswith("site-packages") and opt["-s"] == "file:///sp/savepoint-1"
    # the code also in a folder named by its contents, which stays (thread mode: docs/cluster.md)
    assert Path(kept).parent == tmp_path / "code" and (Path(kept) / "udfs/flink/scoring.py").is_file()
    again = submit.flink_run_command(cfg, "jobs.profile", tmp_path / "c.json", "adstream-profile", [],
                                     None, tmp_path)
    assert dict(zip(again, again[1:]))["-pypath"] == opt["-pypath"] and "-s" not in again
    assert not list((tmp_path / "code").glob(".tmp-*"))
    remote = config.load("test", overrides=["flink.cluster.python_path=/opt/site"])
    cmd_r = submit.flink_run_command(remote, "jobs.scoring", tmp_path / "c.json", "adstream-scoring", [],
                                     None, tmp_path)
    assert dict(zip(cmd_r, cmd_r[1:]))["-pypath"] == "/opt/site"   # a remote cluster names its own
    assert cmd[-5:] == ["--config-json", str(tmp_path / "c.json"), "scoring", "--catalog", "/c.json"]
    import zipfile
    names = zipfile.ZipFile(opt["-pyfs"]).namelist()
    assert "udfs/flink/ttl.py" in names and "jobs/profile.py" in names
    assert not any("__pycache__" in n for n in names)


def test_cluster_settings_are_checked():
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=["flink.cluster.rpc_port=18081"], environ={})
    assert e.value.key == "flink.cluster.rpc_port"
    with pytest.raises(ConfigError) as e:
        config.load("test", overrides=["flink.cluster.taskmanagers=0"], environ={})
    assert e.value.key == "flink.cluster.taskmanagers"


def test_status_lines_name_taskmanagers_slots_and_jobs():
    st = {"answers": True, "pids": {"jobmanager": 11},
          "overview": {"flink-version": "2.2.1", "taskmanagers": 1, "slots-total": 2,
                       "slots-available": 1, "jobs-running": 1},
          "taskmanagers": [{"id": "tm-a", "slotsNumber": 2, "freeSlots": 1}],
          "jobs": [{"jid": "ab", "name": "adstream-profile", "state": "RUNNING", "start-time": 1,
                    "metrics": {"profile.apply adstream.applied": "7"}}]}
    lines = format_status(st, "http://h:1")
    assert "1 taskmanager(s), 1/2 slots free, 1 job(s) running" in lines[0] and "jobmanager 11" in lines[0]
    assert "tm-a: 1/2 slots free" in lines[1] and "ab adstream-profile: RUNNING" in lines[2]
    assert lines[3].strip() == "profile.apply adstream.applied: 7"
    down = format_status({"answers": False, "pids": {}}, "http://h:1")
    assert "does not answer" in down[0]


def test_state_ttl_is_converted_without_a_py4j_gateway(monkeypatch):
    """A standalone TaskManager's thread-mode Python has no gateway: the TTL must not need one."""
    pytest.importorskip("pyflink")
    import pyflink.common.time as pytime
    from udfs.flink.ttl import INCREMENTAL_KEYS, ROCKSDB_QUERY_EVERY, ttl_config

    def no_gateway(*_a, **_k):
        raise AssertionError("py4j gateway used")
    monkeypatch.setattr(pytime, "get_gateway", no_gateway)
    strategies = ttl_config(60).get_cleanup_strategies()
    assert strategies.in_full_snapshot() and not strategies.is_cleanup_in_background()
    assert strategies.get_incremental_cleanup_strategy().get_cleanup_size() == INCREMENTAL_KEYS
    assert (strategies.get_rocksdb_compact_filter_cleanup_strategy().get_query_time_after_num_entries()
            == ROCKSDB_QUERY_EVERY)


class FakeRest:
    """Answers like the REST API, one job state per poll (the last one repeats)."""

    def __init__(self, states, jobs=()):
        self.states, self.base, self._jobs = list(states), "http://fake", list(jobs)

    def job(self, _jid):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"state": state, "vertices": [{"status": "RUNNING" if state == "RUNNING" else "CREATED"}]}

    def exceptions(self, _jid):
        trace = ("org.apache.flink.runtime.JobException: Recovery is suppressed\n\tat x\n"
                 "Caused by: java.lang.RuntimeException: outer\n\tat y\nCaused by: Kafka: inner\n")
        return {"exceptionHistory": {"entries": [{"stacktrace": trace}]}}

    def jobs(self):
        return self._jobs


def test_follow_returns_once_running_or_fails_with_the_root_cause(capsys):
    assert submit.follow(FakeRest(["CREATED", "RUNNING"]), "j", "p", 60, sleep=lambda s: None) == 0
    assert "running on the cluster" in capsys.readouterr().out
    assert submit.follow(FakeRest(["RUNNING", "RESTARTING", "FAILED"]), "j", "p", 60, until_end=True,
                         sleep=lambda s: None) == 1
    err = capsys.readouterr().err
    assert "RESTARTING" in err
    assert "FAILED: org.apache.flink.runtime.JobException: Recovery is suppressed ← Caused by: " \
           "java.lang.RuntimeException: outer ← Caused by: Kafka: inner" in err
    assert submit.follow(FakeRest(["RUNNING", "FINISHED"]), "j", "p", 60, until_end=True,
                         sleep=lambda s: None) == 0
    with pytest.raises(StackError, match="not running within 0s"):
        submit.follow(FakeRest(["CREATED"]), "j", "p", 0, sleep=lambda s: None)


def test_a_job_is_found_by_its_name_among_the_running_ones():
    from jobs.savepoints import find_job
    rest = FakeRest(["RUNNING"], jobs=[{"jid": "a" * 32, "name": "adstream-profile", "state": "FINISHED"},
                                       {"jid": "b" * 32, "name": "adstream-profile", "state": "RUNNING"}])
    assert find_job(rest, "profile") == "b" * 32
    assert find_job(rest, "c" * 32) == "c" * 32
    with pytest.raises(StackError, match="no running job named adstream-scoring"):
        find_job(rest, "scoring")


def test_a_lib_without_the_connector_is_refused_with_what_to_do(cfg, tmp_path):
    if not cfg.jar_path("flink_connector").exists():
        pytest.skip("connector jar not fetched (make setup)")
    lay = Layout(tmp_path)
    write_conf(cfg, lay)
    submit.check_lib(cfg, lay.lib)   # as `adstream flink up` writes it: accepted
    (lay.lib / cfg.jar_path("flink_connector").name).unlink()
    with pytest.raises(StackError) as e:
        submit.check_lib(cfg, lay.lib)
    msg = str(e.value)
    assert "the Kafka connector" in msg and cfg.jar_path("flink_connector").name in msg
    assert "adstream flink up" in msg and "flink-python" not in msg.split("lacks")[1].split(":")[0]
    for p in lay.lib.glob("flink-python-*.jar"):
        p.unlink()
    with pytest.raises(StackError, match="lacks the Kafka connector .* and flink-python"):
        submit.check_lib(cfg, lay.lib)


def test_flinks_own_missing_connector_error_gets_a_hint():
    out = ("org.apache.flink.table.api.ValidationException: Could not find any factory for "
           "identifier 'kafka' that implements 'org.apache.flink.table.factories.DynamicTableFactory'")
    assert "hint: the Kafka connector jar" in submit._cause(out)
    assert "hint" not in submit._cause("java.lang.RuntimeException: something else")


def test_unclaimed_state_is_refused_unless_the_config_allows_it(cfg, tmp_path):
    key = "execution.state-recovery.ignore-unclaimed-state"
    assert common.flink_settings(cfg, "j")[key] == "false"
    cmd = submit.flink_run_command(cfg, "jobs.profile", tmp_path / "c.json", "adstream-profile", [],
                                   "file:///sp/1", tmp_path)
    assert "-n" not in cmd
    allow = config.load("test", overrides=["flink.allow_unclaimed_state=true"], environ={})
    assert common.flink_settings(allow, "j")[key] == "true"
    assert common.flink_settings(allow, "j", cluster=True)[key] == "true"
    cmd = submit.flink_run_command(allow, "jobs.profile", tmp_path / "c.json", "adstream-profile", [],
                                   "file:///sp/1", tmp_path)
    assert cmd[cmd.index("-s") + 2] == "-n"


def test_command_line_paths_reach_flink_absolute(tmp_path, monkeypatch):
    """``adstream job stop X --dir sp`` raised ValueError (a relative path has no file URI), and
    a relative ``--from-savepoint`` went to the JobManager as written, to be read from the
    cluster's own working directory. Both are the user's working directory's now; a location
    as Flink prints it (``file:/…``) or an object-store URI goes on unchanged."""
    import argparse
    monkeypatch.chdir(tmp_path)
    assert common.uri("sp") == (tmp_path / "sp").as_uri()
    assert common.uri("s3://bucket/sp/") == "s3://bucket/sp"

    def restore(**given):
        a = argparse.Namespace(**{"from_checkpoint": None, "from_savepoint": None, "resume": False, **given})
        return common.restore_path(config.load("test"), "adstream-profile", a)
    assert restore(from_savepoint="sp/savepoint-1") == str(tmp_path / "sp" / "savepoint-1")
    assert restore(from_checkpoint="ck/chk-3") == str(tmp_path / "ck" / "chk-3")
    assert restore(from_savepoint="file:/x/savepoint-2") == "file:/x/savepoint-2"
    assert restore(from_savepoint="s3://b/savepoint-3") == "s3://b/savepoint-3"
    assert restore() is None
