"""The metrics the cluster exports: the Prometheus reporter in the generated conf, its port range
in config, the port a daemon logs it bound, the status lines, and the jobs' gauge holder."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.cluster_files import Layout, cluster_settings
from scripts.cli.flink import format_status
from scripts.flinkctl.control import reporter_port
from udfs import config
from udfs.errors import ConfigError
from udfs.flink.gauges import NONE_YET, LastValue, age_ms


def test_the_cluster_conf_names_the_prometheus_reporter_on_the_configured_range():
    cfg = config.load("test", overrides=["flink.cluster.prometheus_ports=19300-19305"], environ={})
    s = cluster_settings(cfg, Layout(Path("/x")))
    assert s["metrics.reporter.prom.factory.class"] == \
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    assert s["metrics.reporter.prom.port"] == "19300-19305"
    off = config.load("test", overrides=["flink.cluster.prometheus_ports="], environ={})
    assert off.flink.cluster.prometheus_range is None
    assert not any(k.startswith("metrics.reporter.") for k in cluster_settings(off, Layout(Path("/x"))))


def test_the_test_env_has_its_own_default_range():
    cfg = config.load("test", environ={})
    assert cfg.flink.cluster.prometheus_range == (18249, 18259)
    moved = config.load("test", environ={"ADSTREAM_TEST_FLINK_PROM_PORTS": "28249-28259"})
    assert moved.flink.cluster.prometheus_range == (28249, 28259)


@pytest.mark.parametrize("ports, why", [
    ("9300-9200", "LOW <= HIGH"),
    ("abc", "LOW-HIGH"),
    ("9300", "a port for the jobmanager and each"),   # one port, two daemons
    ("18000-18100", "rest_port or rpc_port"),         # the test REST port 18081 inside
])
def test_a_port_range_that_cannot_work_is_refused(ports, why):
    with pytest.raises(ConfigError, match=why) as e:
        config.load("test", overrides=[f"flink.cluster.prometheus_ports={ports}"], environ={})
    assert e.value.key == "flink.cluster.prometheus_ports"


def test_the_bound_port_is_the_last_one_a_daemon_logged():
    log = ("2026-12-03 18:59:02,640 INFO  org.apache.flink.metrics.prometheus.PrometheusReporter"
           "       [] - Started PrometheusReporter HTTP server on port 28249.\n"
           "... restarted ...\n"
           "2026-12-03 19:30:00,001 INFO  org.apache.flink.metrics.prometheus.PrometheusReporter"
           "       [] - Started PrometheusReporter HTTP server on port 28251.\n")
    assert reporter_port(log) == 28251
    assert reporter_port("Could not start PrometheusReporter HTTP server on port 28249.") is None
    assert reporter_port("") is None


def _status(prom):
    return {"answers": True, "pids": {"jobmanager": 11},
            "overview": {"flink-version": "2.2.1", "taskmanagers": 1, "slots-total": 2,
                         "slots-available": 1, "jobs-running": 1},
            "taskmanagers": [], "prometheus": prom,
            "jobs": [{"jid": "ab", "name": "adstream-profile", "state": "RUNNING", "start-time": 1,
                      "metrics": {"p.adstream.applied": "7", "p.adstream.freshness_ms": "812"}}]}


def test_status_says_where_prometheus_serves_and_shows_gauges_beside_counters():
    lines = format_status(_status({"ports": "28249-28259", "host": "127.0.0.1",
                                   "bound": {"jobmanager": 28249, "taskmanager-0": 28250}}), "http://h:1")
    assert lines[1] == ("  prometheus (ports 28249-28259): jobmanager http://127.0.0.1:28249/metrics, "
                        "taskmanager-0 http://127.0.0.1:28250/metrics")
    assert "      p.adstream.applied: 7" in lines and "      p.adstream.freshness_ms: 812" in lines
    none = format_status(_status({"ports": "28249-28259", "host": "127.0.0.1", "bound": {}}), "http://h:1")
    assert "no daemon of ours has logged a bound port" in none[1]
    off = format_status(_status({"ports": "", "host": "127.0.0.1", "bound": {}}), "http://h:1")
    assert "no reporter" in off[1]


class Group:
    """Keeps what a metric group is given (the gauge's callable), as PyFlink's would."""

    def __init__(self):
        self.gauges = {}

    def gauge(self, name, fn):
        self.gauges[name] = fn


def test_a_gauge_reads_none_yet_then_the_last_value_scaled_to_an_int():
    g = Group()
    step = LastValue(scale=1000.0).register(g, "step_us")
    assert g.gauges["step_us"]() == NONE_YET
    step.value = 1.2345                     # ms, as timings_ms holds it
    got = g.gauges["step_us"]()
    assert got == 1234 and type(got) is int  # the JVM casts the gauge's value to Long
    with pytest.raises(ValueError, match="must end in its unit"):
        LastValue().register(g, "freshness")


def test_age_is_wall_clock_minus_event_time():
    now = time.time_ns() // 1_000_000
    assert 5_000 <= age_ms(now - 5_000) < 6_000
    assert age_ms(now + 60_000) < 0          # an event clock ahead of ours shows as negative
