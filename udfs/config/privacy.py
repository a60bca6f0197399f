"""Privacy's section of the configuration (``privacy:`` in conf/base.yaml): consent policy and
the pseudonymisation key's names.

A section of its own (``schema`` assembles it into :class:`~udfs.config.schema.Config`): the
consent policy is read by the profile and scoring jobs through ``udfs.core.consent``, the key's
names by ``udfs.core.pseudonym`` and whatever pseudonymises (the publisher helper, replay, dead
letters). The key itself is never here: only the name of the environment variable that holds it
(docs/privacy.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from udfs.errors import ConfigError

OPT_IN, OPT_OUT = "opt_in", "opt_out"
MODES = (OPT_IN, OPT_OUT)


@dataclass(frozen=True)
class ConsentPolicy:
    # How an absent consent flag is read: opt_in (absent = no; GDPR-style, and the default: a
    # site that forgets the flag must not profile anyone) or opt_out (absent = yes; CCPA-style).
    default: str = OPT_IN
    # geo code (the record's ``geo`` / ``context.geo``, as the site writes it) -> mode
    geos: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default not in MODES:
            raise ConfigError("privacy.consent.default", f"must be one of {', '.join(MODES)}, "
                                                         f"got {self.default!r}")
        for geo, mode in self.geos.items():
            if mode not in MODES:
                raise ConfigError(f"privacy.consent.geos.{geo}", f"must be one of {', '.join(MODES)}, "
                                                                 f"got {mode!r}")

    def mode(self, geo: str | None) -> str:
        """The mode that decides an absent flag of a record from ``geo``."""
        return self.geos.get(geo or "", self.default)


@dataclass(frozen=True)
class Erasure:
    """``adstream privacy erase|verify`` (docs/privacy.md, "Erasure")."""
    # The command's audit file, under paths.work_dir (one JSON ErasureAudit per line).
    audit_file: str = "privacy/erasure-audit.jsonl"
    # `erase --wait`: the jobs whose audit records complete an erasure, and how long to wait for them.
    wait_for: tuple[str, ...] = ("adstream-profile", "adstream-feedback", "adstream-scoring")
    wait_s: float = 60.0
    # Whether USER on the command line is a raw id to pseudonymise first (the stores hold pseudonyms);
    # also on whenever pseudonymise_replay is. An id already shaped as a pseudonym of the current key
    # id is taken as it is.
    pseudonymise_user: bool = False

    def __post_init__(self) -> None:
        if self.wait_s <= 0:
            raise ConfigError("privacy.erasure.wait_s", "must be > 0")
        if not self.audit_file:
            raise ConfigError("privacy.erasure.audit_file", "must name a file under paths.work_dir")


@dataclass(frozen=True)
class Retention:
    """How long personal data is kept where it is not bounded by the jobs' state TTL."""
    # Training-log partitions (hours) older than this are removed by `adstream training-log purge`.
    training_log_days: int = 90
    # topic key (kafka.topics) -> retention.ms that `adstream stack up` sets on the topic; a topic
    # not listed keeps the broker's default (7 days)
    topics_ms: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.training_log_days < 1:
            raise ConfigError("privacy.retention.training_log_days", "must be >= 1")
        for key, ms in self.topics_ms.items():
            if not isinstance(ms, int) or ms < 60_000:
                raise ConfigError(f"privacy.retention.topics_ms.{key}", f"must be >= 60000 ms, got {ms!r}")


@dataclass(frozen=True)
class Privacy:
    consent: ConsentPolicy = ConsentPolicy()
    # The environment variable that holds the pseudonymisation secret (never the secret itself).
    pseudonym_key_env: str = "ADSTREAM_PSEUDONYM_KEY"
    # Stamped on every pseudonym, so that ids made with an old key and a new one are told apart.
    pseudonym_key_id: str = "k1"
    # Whether `adstream replay --source world` pseudonymises the world's ids before producing.
    pseudonymise_replay: bool = False
    erasure: Erasure = Erasure()
    retention: Retention = Retention()

    def __post_init__(self) -> None:
        if not self.pseudonym_key_env:
            raise ConfigError("privacy.pseudonym_key_env", "must name an environment variable")
        kid = self.pseudonym_key_id
        if not (kid and len(kid) <= 16 and kid.isascii() and kid.isalnum()):
            raise ConfigError("privacy.pseudonym_key_id", "must be 1-16 ASCII letters or digits "
                                                          f"(it prefixes every pseudonym), got {kid!r}")
