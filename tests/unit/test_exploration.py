"""Thompson sampling for young ads (udfs/core/exploration.py): which requests explore, the
posterior draws, a new ad that gets a chance and loses it once it is clearly worse (or keeps
it when better), and the scorer's wiring (job setting and a variant's own rate)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from udfs.config import Exploration
from udfs.config.experiments import Experiment, Experiments, Variant
from udfs.core import experiments as X
from udfs.core import exploration as E
from tests.unit.test_scoring import SCORING, deps, req, scorer
from udfs.core import scoring as S

pytestmark = pytest.mark.unit

P = E.ExplorationParams(rate=1.0, max_impressions=2000, prior_strength=50.0)


def test_the_explored_share_is_the_rate_and_a_pure_function_of_the_request():
    got = [E.explores(f"r{i}", 0.1) for i in range(20_000)]
    assert 0.09 < sum(got) / len(got) < 0.11
    assert got == [E.explores(f"r{i}", 0.1) for i in range(20_000)]
    assert not any(E.explores(f"r{i}", 0.0) for i in range(100))
    assert all(E.explores(f"r{i}", 1.0) for i in range(100))


def test_only_young_ads_are_drawn_and_the_draws_repeat_per_request():
    pctr = np.array([0.05, 0.05, 0.05])
    out, n = E.thompson(pctr, np.array([10, 5000, 0]), np.array([1, 250, 0]), P, "r1")
    assert n == 2 and out[1] == 0.05 and out[0] != 0.05 and out[2] != 0.05
    assert np.all((out >= 0) & (out <= 1))
    again, _ = E.thompson(pctr, np.array([10, 5000, 0]), np.array([1, 250, 0]), P, "r1")
    assert np.array_equal(out, again)
    assert pctr[0] == 0.05                               # the model's scores are not edited in place


def test_draws_centre_on_the_observed_ctr_as_impressions_accrue():
    pctr = np.full(4000, 0.05)
    few, _ = E.thompson(pctr, np.full(4000, 10), np.zeros(4000), dataclasses.replace(P, max_impressions=10**9), "a")
    many, _ = E.thompson(pctr, np.full(4000, 100_000), np.full(4000, 1000), dataclasses.replace(P, max_impressions=10**9), "b")
    assert abs(few.mean() - 50 * 0.05 / 60) < 0.005        # prior 50 imps at 5 %, then 10 without a click
    assert abs(many.mean() - 0.01) < 0.0005 and many.std() < few.std() / 5


def test_bad_counts_still_make_a_valid_posterior():
    out, n = E.thompson(np.array([0.0, 1.0, 0.5]), np.array([-5, 3, 2]), np.array([9, 7, -1]), P, "r")
    assert n == 3 and np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))


def duel(new_true_ctr: float, rate: float, rounds: int = 6000, seed: int = 3) -> list[int]:
    """An incumbent (true and predicted CTR 5 %, long past exploration) against a new ad the
    model first rates at 4.5 %; same bid. The model's pCTR of the new ad follows the live CTR
    prior it is fed (``ad_ctr_prior``: 100 prior impressions at 4.5 %), as the served model's
    does. Wins of the new ad per block of 1000 requests."""
    rng = np.random.default_rng(seed)
    params = dataclasses.replace(P, rate=rate)
    imps, clicks, wins = 0, 0, []
    for i in range(rounds):
        pctr = np.array([0.05, (clicks + 100 * 0.045) / (imps + 100)])
        if E.explores(f"r{i}", rate):
            pctr, _ = E.thompson(pctr, np.array([10**6, imps]), np.array([50_000, clicks]), params, f"r{i}")
        won = pctr[1] > pctr[0]
        if won:
            imps += 1
            clicks += int(rng.random() < new_true_ctr)
        wins.append(int(won))
    return [sum(wins[b:b + 1000]) for b in range(0, rounds, 1000)]


def test_a_new_ad_gets_impressions_then_stops_once_clearly_worse():
    blocks = duel(new_true_ctr=0.01, rate=1.0)
    assert blocks[0] > 50, blocks           # a fair chance while its posterior is wide
    assert blocks[-1] < 20 and blocks[-1] < blocks[0] / 5, blocks   # then it loses nearly every auction
    assert duel(0.01, rate=0.0) == [0] * 6  # greedy: never shown, never corrected


def test_a_better_new_ad_is_discovered_and_keeps_winning():
    blocks = duel(new_true_ctr=0.10, rate=1.0)
    assert blocks[-1] > 900, blocks


# ------------------------------------------------------------------------- in the scorer

class Counts:
    """Live statistics with every creative young: 10 impressions, no click."""
    version = 0

    def ctr_prior(self, creative_id):
        return None

    def cpa(self, campaign_id):
        return None, 0

    def impressions_clicks(self, creative_id):
        return 10, 0


def explored_scorer(rate: float) -> S.RequestScorer:
    scoring = dataclasses.replace(SCORING, exploration=Exploration(rate=rate))
    return S.RequestScorer(scoring, scorer().featurizer, source_topic="t", variant="B", wall_ms=lambda: 42)


def test_the_job_rate_explores_and_the_answer_carries_the_drawn_ctr():
    out = explored_scorer(1.0).handle(req(), deps(stats=Counts()))
    assert out.explored == 5 and not out.response.fallback
    model = {"x1": 0.04, "x2": 0.03, "x3": 0.05, "y1": 0.01, "y2": 0.01}   # FakeModel: price / 1000
    assert out.response.ads and all(a.pctr != pytest.approx(model[a.creative_id]) for a in out.response.ads)
    plain = explored_scorer(0.0).handle(req(), deps(stats=Counts()))
    assert plain.explored == 0 and [a.creative_id for a in plain.response.ads] == ["x3", "x1", "y1"]


def test_a_variant_sets_its_own_exploration_rate():
    e = Experiment("e", "s", "2025-12-01T00:00:00Z", "2025-12-31T00:00:00Z",
                   (Variant("control", 0.5), Variant("explore", 0.5, exploration=1.0)))
    a = X.Assigner(Experiments((e,)), SCORING, "B")
    by: dict = {}
    for i in range(30):
        out = scorer().handle(req(f"r{i}", f"u{i}"), deps(stats=Counts(), experiments=a,
                                                          profiles=_Any()))
        by.setdefault(out.response.variant, []).append(out.explored)
    assert set(by["e:explore"]) == {5} and set(by["e:control"]) == {0}


class _Any:
    def read(self, user_id):
        from tests.unit.test_scoring import PROFILE
        return PROFILE
