"""Which experiment variant a request belongs to, and what that variant changes.

Bucketing is a pure function of the experiment's salt and the unit's id — the
pseudonymous user id, or the request id for an anonymous visitor — so a user stays in
one variant across requests, restarts and any scoring-job parallelism (no state, no
Python ``hash()``, which is salted per process). The hash is BLAKE2b over
``salt \\x1f id``: 64 bits read as a fraction in [0, 1), compared with the variants'
cumulative shares in their configured order; the rest of the unit interval is outside
the experiment. A request takes part when its own ``ts`` falls in the experiment's
``[start, stop)`` — the time the ad server asked, so a replay buckets the same way.

An :class:`Arm` is what the scorer needs per request: the label to stamp, the ranking
rules with the variant's overrides applied (prepared once per file, not per request),
a model version to rank with ("" = the current model) and whether pacing applies.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from udfs.config import Scoring
from udfs.config.experiments import Experiment, Experiments, Variant

_SCALE = float(2 ** 64)


def bucket(salt: str, unit: str) -> float:
    """The unit's place in [0, 1) for this salt; uniform, independent across salts."""
    h = hashlib.blake2b(f"{salt}\x1f{unit}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(h, "big") / _SCALE


@dataclass(frozen=True)
class Arm:
    label: str                 # stamped on the answer, the served log and the training log
    scoring: Scoring           # the ranking rules this request is scored with
    model_version: str = ""    # "" = the registry's current model
    pacing: bool = True        # budget pacing applies (if the job paces at all)
    experiment: str = ""       # "" = in no experiment


def _scoring_of(base: Scoring, v: Variant) -> Scoring:
    changes: dict = {}
    if v.reserve_ecpm is not None:   # one reserve for every slot: the variant's
        changes.update(reserve_ecpm=v.reserve_ecpm, slot_reserve_ecpm={})
    if v.max_ads_per_advertiser is not None:
        changes["max_ads_per_advertiser"] = v.max_ads_per_advertiser
    return dataclasses.replace(base, **changes) if changes else base


class Assigner:
    """The variant of each request under one experiments file."""

    def __init__(self, experiments: Experiments, scoring: Scoring, default_label: str,
                 pacing: bool = True):
        self.experiments = experiments
        self.outside = Arm(default_label, scoring, "", pacing)
        # Per experiment: its window, salt and (upper share bound, arm) in order.
        self._plans: list[tuple[int, int, str, list[tuple[float, Arm]]]] = []
        for e in experiments.experiments:
            self._plans.append((e.start_ms, e.stop_ms, e.salt, self._arms(e, scoring, pacing)))

    @staticmethod
    def _arms(e: Experiment, scoring: Scoring, pacing: bool) -> list[tuple[float, Arm]]:
        out, upper = [], 0.0
        for v in e.variants:
            upper += v.share
            out.append((upper, Arm(e.label(v.name), _scoring_of(scoring, v), v.model_version,
                                   pacing if v.pacing is None else v.pacing, e.name)))
        return out

    @property
    def model_versions(self) -> set[str]:
        """The pinned model versions the file names (the adapter loads them before they are needed)."""
        return {arm.model_version for *_, arms in self._plans for _, arm in arms if arm.model_version}

    def assign(self, user_id: str | None, request_id: str, ts: int) -> Arm:
        for start, stop, salt, arms in self._plans:
            if start <= ts < stop:
                b = bucket(salt, user_id if user_id else "r:" + request_id)
                for upper, arm in arms:
                    if b < upper:
                        return arm
                return self.outside
        return self.outside
