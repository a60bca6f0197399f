"""Experiments: the file's rules, bucketing (stable, balanced, independent per salt), the
variants' overrides in the scorer, and the watcher that applies an edited file."""
from __future__ import annotations

import collections
import os

import pytest

from udfs import config
from udfs.config.experiments import Experiment, Experiments, Variant
from udfs.core import experiments as X
from udfs.core.pacing import Pacer, PacingParams
from udfs.errors import ConfigError
from udfs.io.experiment_watch import ExperimentWatcher
from tests.unit.test_scoring import SCORING, T0, FakeModel, deps, ids, req, scorer

pytestmark = pytest.mark.unit

START, STOP = "2025-12-01T00:00:00Z", "2025-12-31T00:00:00Z"   # T0 (2025-12-01 10:00 UTC) is inside


def exp(name="e1", salt="s1", shares=(0.5, 0.5), start=START, stop=STOP, **over) -> Experiment:
    names = ["control", "treatment", "third"][:len(shares)]
    return Experiment(name, salt, start, stop, tuple(
        Variant(n, s, **(over if n == "treatment" else {})) for n, s in zip(names, shares)))


def assigner(*experiments, scoring=SCORING) -> X.Assigner:
    return X.Assigner(Experiments(tuple(experiments)), scoring, "default")


def write(tmp_path, text: str, name="experiments.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


FILE = f"""experiments:
  - name: e1
    salt: s1
    start: "{START}"
    stop: "{STOP}"
    variants:
      - {{name: control, share: 0.5}}
      - {{name: treatment, share: 0.5, reserve_ecpm: 1000.0}}
"""


# ------------------------------------------------------------------------- bucketing

def test_bucket_is_a_pure_function_of_salt_and_id_in_the_unit_interval():
    assert X.bucket("s", "u1") == X.bucket("s", "u1")
    values = [X.bucket("s", f"u{i}") for i in range(1000)]
    assert all(0 <= v < 1 for v in values) and len(set(values)) == 1000
    assert X.bucket("s", "u1") != X.bucket("t", "u1")


def test_shares_are_kept_chi_square_at_a_fixed_seed():
    a = assigner(exp(shares=(0.5, 0.3, 0.2)))
    n = 30_000
    counts = collections.Counter(a.assign(f"user-{i}", f"r{i}", T0).label for i in range(n))
    expected = {"e1:control": 0.5 * n, "e1:treatment": 0.3 * n, "e1:third": 0.2 * n}
    assert set(counts) == set(expected)
    chi2 = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < 13.82, (chi2, counts)   # the 0.999 quantile of chi-square with 2 degrees of freedom


def test_a_partial_experiment_leaves_the_rest_outside_with_the_default_label():
    a = assigner(exp(shares=(0.1, 0.1)))
    labels = collections.Counter(a.assign(f"u{i}", "r", T0).label for i in range(20_000))
    assert 0.77 < labels["default"] / 20_000 < 0.83


def test_two_salts_bucket_independently():
    a, b = assigner(exp(salt="one")), assigner(exp(salt="two"))
    table = collections.Counter((a.assign(f"u{i}", "r", T0).label, b.assign(f"u{i}", "r", T0).label)
                                for i in range(20_000))
    for cell in table.values():   # each of the 4 cells holds about a quarter
        assert abs(cell - 5_000) < 5 * (20_000 * 0.25 * 0.75) ** 0.5


def test_a_user_keeps_their_variant_and_anonymous_visitors_split_by_request():
    a = assigner(exp())
    assert len({a.assign("u7", f"r{i}", T0 + i).label for i in range(50)}) == 1
    anon = {a.assign(None, f"r{i}", T0).label for i in range(50)}
    assert anon == {"e1:control", "e1:treatment"}
    assert a.assign(None, "r3", T0) is a.assign("", "r3", T0)


def test_only_requests_inside_the_window_take_part():
    e = exp()
    a = assigner(e)
    assert a.assign("u1", "r", e.start_ms - 1).label == "default"
    assert a.assign("u1", "r", e.start_ms).experiment == "e1"
    assert a.assign("u1", "r", e.stop_ms).label == "default"


def test_overrides_are_prepared_once_per_variant():
    s = SCORING.__class__(**{**SCORING.__dict__, "slot_reserve_ecpm": {"home_top": 9.0}})
    a = assigner(exp(reserve_ecpm=2.0, max_ads_per_advertiser=1, pacing=False, model_version="v0003"), scoring=s)
    by = {arm.label: arm for arm in (a.assign(f"u{i}", "r", T0) for i in range(40))}
    t, c = by["e1:treatment"], by["e1:control"]
    assert t.scoring.reserve_for("home_top") == 2.0 and t.scoring.max_ads_per_advertiser == 1
    assert not t.pacing and t.model_version == "v0003"
    assert c.scoring is s and c.pacing and c.model_version == ""
    assert a.model_versions == {"v0003"}


# ------------------------------------------------------------------------- the file's rules

@pytest.mark.parametrize("edit, key, words", [
    ({"shares": (0.7, 0.5)}, "variants", "more than 1"),
    ({"shares": (1.0,)}, "variants", "at least two"),
    ({"start": "2025-12-01T00:00:00"}, "start", "UTC offset"),
    ({"stop": "yesterday"}, "stop", "ISO-8601"),
    ({"stop": START}, "stop", "after start"),
    ({"name": "Has Space"}, "name", "must match"),
    ({"salt": ""}, "salt", "empty"),
])
def test_a_bad_experiment_is_refused_naming_its_key(edit, key, words):
    with pytest.raises(ConfigError) as e:
        exp(**edit)
    assert e.value.key == key and words in str(e.value)


def test_overlapping_experiments_are_refused():
    with pytest.raises(ConfigError, match="overlap"):
        Experiments((exp("a"), exp("b", start="2025-12-30T00:00:00Z", stop="2026-01-05T00:00:00Z")))
    Experiments((exp("a"), exp("b", start=STOP, stop="2026-01-05T00:00:00Z")))   # back to back is fine


def test_the_file_loads_with_the_configs_strict_rules(tmp_path):
    e = config.load_experiments(write(tmp_path, FILE)).get("e1")
    assert e.variant("treatment").reserve_ecpm == 1000.0 and e.variant("control").share == 0.5
    with pytest.raises(ConfigError) as err:
        config.load_experiments(write(tmp_path, FILE.replace("reserve_ecpm", "reserv_ecpm")))
    assert err.value.key == "experiments[0].variants[1].reserv_ecpm" and "unknown key" in str(err.value)
    with pytest.raises(ConfigError) as err:
        config.load_experiments(write(tmp_path, FILE.replace("share: 0.5}", "share: 2}", 1)))
    assert err.value.key == "experiments[0].variants[0].share"
    assert config.load_experiments("") == Experiments()


def test_the_shipped_file_and_the_test_configs_point_at_a_valid_file():
    cfg = config.load("test")
    assert os.path.exists(cfg.scoring_job.experiments_file)
    config.load_experiments(cfg.scoring_job.experiments_file)


# ------------------------------------------------------------------------- in the scorer

def by_variant(a: X.Assigner, n=40, **kw):
    out = {}
    for i in range(n):
        r = scorer().handle(req(f"r{i}", f"u{i}"), deps(experiments=a, profiles=_AllKnown(), **kw))
        out.setdefault(r.response.variant, []).append(r)
    return out


class _AllKnown:
    def read(self, user_id):
        from tests.unit.test_scoring import PROFILE
        return PROFILE


def test_the_variant_is_stamped_on_the_answer_and_its_served_log():
    got = by_variant(assigner(exp()))
    assert set(got) == {"e1:control", "e1:treatment"}
    for label, outs in got.items():
        assert all(o.served.variant == label for o in outs)


def test_a_variants_reserve_changes_what_it_serves():
    got = by_variant(assigner(exp(reserve_ecpm=1000.0)))
    assert all(ids(o.response) == [] for o in got["e1:treatment"])          # nothing clears 1000
    assert all(ids(o.response) == ["x3", "x1", "y1"] for o in got["e1:control"])


def test_a_pinned_model_ranks_its_variant_and_a_missing_one_leaves_the_current():
    class Pinned(FakeModel):
        version = "v0009"
    a = assigner(exp(model_version="v0009"))
    got = by_variant(a, models={"v0009": Pinned()})
    assert {o.response.model_version for o in got["e1:treatment"]} == {"v0009"}
    assert {o.response.model_version for o in got["e1:control"]} == {"v-test"}
    got = by_variant(a)   # the adapter could not load it
    assert {o.response.model_version for o in got["e1:treatment"]} == {"v-test"}


def test_pacing_switched_off_for_a_variant():
    pacer = Pacer(PacingParams.from_config(SCORING.pacing))
    for _ in range(20):   # far ahead of its curve at 10:00: throttled down, read after read
        pacer.update([(f"c-{c}", 10.0, 9.9) for c in ("x1", "x2", "x3", "y1", "y2")], T0)
    assert pacer.active
    got = by_variant(assigner(exp(pacing=False)), n=80, pacing=pacer)
    assert sum(o.paced for o in got["e1:treatment"]) == 0
    assert sum(o.paced for o in got["e1:control"]) > 0


# ------------------------------------------------------------------------- the watcher

def test_the_watcher_applies_an_edit_refuses_a_broken_one_and_keeps_the_last(tmp_path):
    path = write(tmp_path, FILE)
    now = [0.0]
    logged = []
    w = ExperimentWatcher(path, 100, lambda: now[0], lambda *a: logged.append(a))
    assert w.poll(force=True) == "loaded" and w.experiments.get("e1")
    assert w.poll() is None                       # within the poll interval: not even a stat
    now[0] += 100
    assert w.poll() is None                       # unchanged file
    with open(path, "w") as f:
        f.write(FILE.replace("share: 0.5, reserve", "share: 0.9, reserve"))
    now[0] += 100
    assert w.poll() == "failed" and "more than 1" in w.last_error and logged
    assert w.experiments.get("e1").variant("treatment").share == 0.5   # the last good one
    with open(path, "w") as f:
        f.write(FILE.replace("name: e1", "name: e2"))
    now[0] += 100
    assert w.poll() == "loaded" and [e.name for e in w.experiments.experiments] == ["e2"]
    os.remove(path)
    now[0] += 100
    assert w.poll() == "failed" and [e.name for e in w.experiments.experiments] == ["e2"]


def test_no_file_configured_means_no_experiments_and_no_polling():
    w = ExperimentWatcher("", 1, lambda: 0.0, print)
    assert w.poll(force=True) is None and w.experiments == Experiments()
