"""The benchmarks' ``--target cluster`` arithmetic and arguments: parallelism lists, scaling
efficiency, partitions and slots, the scoring job's scaling keys, the CPU parts counted as the job."""
import argparse
import math

import pytest

from scripts.bench import cluster as C


def test_a_parallelism_list_is_parsed_sorted_and_distinct():
    assert C.parse_parallelism("1,2") == [1, 2]
    assert C.parse_parallelism(" 2, 1,2 ") == [1, 2]
    assert C.parse_parallelism("4") == [4]
    for bad in ("", "0,1", "-1", "one,two", "1.5"):
        with pytest.raises(ValueError):
            C.parse_parallelism(bad)


def test_scaling_efficiency_is_p2_over_twice_p1():
    assert C.scaling_efficiency(10_000.0, 20_000.0) == 1.0
    assert C.scaling_efficiency(10_000.0, 10_000.0) == 0.5
    assert C.scaling_efficiency(10_000.0, 15_000.0) == 0.75
    assert C.scaling_efficiency(10_000.0, 5_000.0) == 0.25      # p2 slower than p1: below 0.5
    for p1, p2 in ((None, 1.0), (1.0, None), (0.0, 1.0), (float("nan"), 1.0), (1.0, float("nan"))):
        assert C.scaling_efficiency(p1, p2) is None


def test_partitions_are_at_least_two_and_cover_the_highest_parallelism():
    assert C.topic_partitions([1]) == 2
    assert C.topic_partitions([1, 2]) == 2
    assert C.topic_partitions([1, 2, 4]) == 4


def test_slots_fit_the_highest_parallelism_and_never_shrink():
    assert C.slots_needed([1, 2], taskmanagers=1, configured_slots=2) == 2
    assert C.slots_needed([1, 4], taskmanagers=1, configured_slots=2) == 4
    assert C.slots_needed([1, 3], taskmanagers=2, configured_slots=1) == 2
    assert C.slots_needed([1], taskmanagers=1, configured_slots=3) == 3


def _parser():
    p = argparse.ArgumentParser()
    C.add_target_args(p)
    return p


def test_target_defaults_to_local_and_cluster_defaults_to_parallelism_1_and_2():
    p = _parser()
    a = p.parse_args([])
    C.check_target_args(p, a)
    assert (a.target, a.parallelism) == ("local", None)
    a = p.parse_args(["--target", "cluster"])
    C.check_target_args(p, a)
    assert a.parallelism == [1, 2]
    a = p.parse_args(["--target", "cluster", "--parallelism", "2,1,4"])
    C.check_target_args(p, a)
    assert a.parallelism == [1, 2, 4]


def test_parallelism_without_the_cluster_target_or_a_bad_list_is_refused():
    p = _parser()
    with pytest.raises(SystemExit):
        C.check_target_args(p, p.parse_args(["--parallelism", "1,2"]))
    with pytest.raises(SystemExit):
        p.parse_args(["--target", "cluster", "--parallelism", "0"])


def _summary(max50, tried, cpu):
    return {"max_rate_p99_50ms": max50, "highest_rate_tried": tried, "job_cpu_ms_per_request": cpu}


def test_the_scoring_jobs_scaling_keys():
    from scripts.bench.scoring_cluster import scaling
    s = scaling(_summary(400.0, 600.0, 1.5), _summary(600.0, 800.0, 1.8))
    assert s["scaling_efficiency_1_to_2"] == 0.75
    assert s["scaling_efficiency_capped"] is False
    assert math.isclose(s["cpu_per_request_ratio_1_to_2"], 1.2)
    capped = scaling(_summary(200.0, 200.0, 1.0), _summary(200.0, 200.0, 1.0))
    assert capped["scaling_efficiency_1_to_2"] == 0.5 and capped["scaling_efficiency_capped"] is True
    none = scaling(_summary(None, 200.0, 1.0), _summary(200.0, 200.0, None))
    assert none == {"scaling_efficiency_1_to_2": None, "scaling_efficiency_capped": None,
                    "cpu_per_request_ratio_1_to_2": None}
    assert scaling(None, _summary(1.0, 1.0, 1.0))["scaling_efficiency_1_to_2"] is None


def test_the_job_is_the_minicluster_jvm_or_the_cluster_daemons_together():
    from scripts.bench.scoring_cpu import is_job, is_tree
    assert all(is_job(p) for p in ("job", "jobmanager", "taskmanager-0", "taskmanager-1"))
    assert not any(is_job(p) for p in ("loadgen", "broker", "redis"))
    assert is_tree("job") and is_tree("taskmanager-0")
    assert not any(is_tree(p) for p in ("jobmanager", "loadgen", "broker", "redis"))
