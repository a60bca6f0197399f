"""The experiments' section: A/B tests of the scoring job, in their own file (``conf/experiments.yaml``).

Apart from the main config because the scoring job re-reads it while it runs (an edit takes
effect within ``scoring_job.experiments_poll_ms``, no restart; ``udfs/io/experiment_watch.py``),
and the report (``adstream experiment report``) reads the same file. Users: ``udfs/core/experiments.py``
(bucketing and the variants' overrides), the scoring adapter, the report. Pure dataclasses,
converted by the loader (``udfs.config.loader.load_experiments``) with the same strict rules
and dotted error keys as every section.

At most one experiment runs at any instant (their ``start``–``stop`` windows may not
overlap): a request belongs to one experiment or none, so every override and every
variant's figures have one meaning. A variant's label on the answers, the served log and
the training log is ``<experiment>:<variant>``; a request outside the running experiment's
shares (or when none runs) carries ``scoring_job.variant``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from udfs.errors import ConfigError

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,30}$")   # label "<exp>:<variant>" stays within 64 characters


def epoch_ms(text: str, *, naive_utc: bool = False) -> int:
    """Epoch ms of an ISO-8601 time. Without a UTC offset it is refused (a bare time means
    different instants on different machines) unless ``naive_utc`` reads it as UTC. Raises
    ValueError saying what a good value looks like; the experiments file, the report's
    ``--as-of`` and retraining's window all read times through it."""
    try:
        t = datetime.fromisoformat(str(text).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO-8601 time such as 2026-12-01T00:00:00Z") from None
    if t.tzinfo is None:
        if not naive_utc:
            raise ValueError(f"{text!r} needs a UTC offset (e.g. {text}Z): a bare time means different "
                             "instants on different machines")
        t = t.replace(tzinfo=timezone.utc)
    return int(round(t.timestamp() * 1000))


def _epoch_ms(key: str, text: str) -> int:
    try:
        return epoch_ms(text)
    except ValueError as e:
        raise ConfigError(key, str(e)) from None


@dataclass(frozen=True)
class Variant:
    """One arm: its traffic share and what it changes (unset: as the scoring job is configured)."""
    name: str
    share: float                                  # of the experiment's bucketing unit, in (0, 1]
    model_version: str = ""                       # a registered version (or vNNNN); "" = the current model
    reserve_ecpm: float | None = None             # replaces scoring.reserve_ecpm and every slot's reserve
    max_ads_per_advertiser: int | None = None     # the auction's diversity rule
    pacing: bool | None = None                    # budget pacing on/off; None = scoring.pacing.enabled
    exploration: float | None = None              # share of requests explored; None = scoring.exploration.rate

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ConfigError("name", f"must match {NAME.pattern} (got {self.name!r})")
        if isinstance(self.share, bool) or not 0 < self.share <= 1:
            raise ConfigError("share", "must be in (0, 1]")
        if self.reserve_ecpm is not None and self.reserve_ecpm < 0:
            raise ConfigError("reserve_ecpm", "must be >= 0")
        if self.exploration is not None and not 0 <= self.exploration <= 1:
            raise ConfigError("exploration", "must be within [0, 1]")
        if self.max_ads_per_advertiser is not None and self.max_ads_per_advertiser < 1:
            raise ConfigError("max_ads_per_advertiser", "must be >= 1")


@dataclass(frozen=True)
class Experiment:
    name: str
    salt: str          # a new salt reshuffles users; keep it for the experiment's whole life
    start: str         # ISO-8601 with offset; requests with ts in [start, stop) take part
    stop: str
    variants: tuple[Variant, ...]

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ConfigError("name", f"must match {NAME.pattern} (got {self.name!r})")
        if not self.salt:
            raise ConfigError("salt", "must not be empty")
        if self.start_ms >= self.stop_ms:
            raise ConfigError("stop", "must be after start")
        names = [v.name for v in self.variants]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError("variants", f"need at least two, with distinct names (got {names})")
        if sum(v.share for v in self.variants) > 1 + 1e-9:
            raise ConfigError("variants", "shares add up to more than 1")

    @property
    def start_ms(self) -> int:
        return _epoch_ms("start", self.start)

    @property
    def stop_ms(self) -> int:
        return _epoch_ms("stop", self.stop)

    def label(self, variant: str) -> str:
        return f"{self.name}:{variant}"

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ConfigError(f"{self.name}.variants", f"no variant {name!r} (have {[v.name for v in self.variants]})")


@dataclass(frozen=True)
class Experiments:
    experiments: tuple[Experiment, ...] = ()

    def __post_init__(self) -> None:
        names = [e.name for e in self.experiments]
        if len(set(names)) != len(names):
            raise ConfigError("experiments", f"names must be distinct (got {names})")
        spans = sorted((e.start_ms, e.stop_ms, e.name) for e in self.experiments)
        for (_, stop, a), (start, _, b) in zip(spans, spans[1:]):
            if start < stop:
                raise ConfigError("experiments", f"{a!r} and {b!r} overlap in time: at most one "
                                                 "experiment runs at once")

    def get(self, name: str) -> Experiment:
        for e in self.experiments:
            if e.name == name:
                return e
        raise ConfigError("experiments", f"no experiment {name!r} (have {[e.name for e in self.experiments]})")
