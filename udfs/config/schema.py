"""The configuration's schema: :class:`Config`, assembled from one dataclass per section of ``conf/base.yaml``.

Each section lives with its users: the shared runtime in ``platform``, the profile job's in
``profile``, the scoring job's in ``scoring``, the feedback job's in ``feedback``, training's in
``model``, off-policy evaluation's in ``ope``, the experiment report's in
``experiment_report``, consent and pseudonyms in ``privacy``, the synthetic world's and the simulated day's in ``synth``. All pure: no
file, environment or YAML here (``udfs.config.loader`` builds these from them), so a worker
that receives a config as a dict
(``from_dict``) needs nothing but this package. Validation that involves one section lives in
its ``__post_init__`` and names the dotted key. Path values arrive absolute (or as URIs): the
loader resolves them once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from udfs.config.deploy import Deploy, JobParallelism, Resources
from udfs.config.experiment_report import ExperimentReport
from udfs.config.feedback import Feedback
from udfs.config.interests import Interests
from udfs.config.model import Model
from udfs.config.ope import Ope
from udfs.config.platform import (DeadLetters, Flink, FlinkCluster, Jars, Kafka, Logs, Messages, Paths, Redis, Topic,
                                  Topics)
from udfs.config.privacy import ConsentPolicy, Privacy
from udfs.config.profile import Feast, Profile, Windows
from udfs.config.scoring import CapRule, Exploration, Pacing, ReviewPolicy, Scoring, ScoringJob
from udfs.config.synth import Generator, Simulation, Site
from udfs.errors import ConfigError

__all__ = ["CapRule", "Config", "ConfigError", "ConsentPolicy", "DeadLetters", "ExperimentReport", "Exploration",
           "Feast", "Feedback", "Flink", "FlinkCluster", "Generator", "Jars", "Kafka", "Logs", "Messages", "Model", "Ope", "Pacing",
           "Paths", "Privacy", "Profile", "Redis", "ReviewPolicy",
           "Scoring", "ScoringJob", "Simulation", "Site", "Topic", "Topics", "Windows"]
__all__ += ["Deploy", "JobParallelism", "Resources"]   # the Kubernetes deployment (udfs/config/deploy.py)
__all__ += ["Interests"]   # segments, affinities, rules (udfs/config/interests.py)


@dataclass(frozen=True)
class Config:
    env: str
    paths: Paths
    jars: Jars
    kafka: Kafka
    redis: Redis
    flink: Flink
    profile: Profile
    feast: Feast
    generator: Generator
    scoring: Scoring
    model: Model
    scoring_job: ScoringJob
    messages: Messages = dataclasses.field(default_factory=Messages)
    site: Site = Site()
    simulation: Simulation = Simulation()
    feedback: Feedback = Feedback()
    ope: Ope = Ope()
    experiment_report: ExperimentReport = ExperimentReport()
    privacy: Privacy = Privacy()
    dead_letter: DeadLetters = DeadLetters()
    logs: Logs = Logs()
    deploy: Deploy = dataclasses.field(default_factory=Deploy)   # read by `adstream flink k8s render` only
    interests: Interests = Interests()

    def log_dir(self, job: str) -> Path:
        """Where one job's log files live (the JVM's, its Python workers', its stderr)."""
        return self.path("work_dir") / self.logs.dir / job

    def path(self, name: str) -> Path:
        return self.paths.resolve(name)

    def jar_path(self, name: str) -> Path:
        return Path(getattr(self.jars, name))
