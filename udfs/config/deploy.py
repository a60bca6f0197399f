"""The Kubernetes deployment's section of the configuration (``deploy:`` in conf/base.yaml).

Read only by ``adstream flink k8s render`` (scripts/k8s/render.py), which turns it into a Dockerfile
and one ``FlinkDeployment`` per job for the Flink Kubernetes Operator (docs/deploy.md). The
jobs themselves never read it: inside a pod they load the ``config_env`` overlay
(conf/k8s.yaml), which takes the addresses from the environment the manifest sets up. A pure
dataclass like every section; its rules name the dotted key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from udfs.errors import ConfigError

# Kubernetes names: a namespace, service account or Secret is a DNS-1123 label/subdomain.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# Flink's memory sizes as the operator reads them ("2048m", "2g", "1.5gb"); also Kubernetes "2Gi".
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([kmgt]i?b?|bytes)?$", re.I)
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


@dataclass(frozen=True)
class Resources:
    """One pod's share: what the operator asks Kubernetes for (and gives Flink as its process size)."""
    cpu: float
    memory: str

    def check(self, key: str) -> None:
        if self.cpu <= 0:
            raise ConfigError(f"{key}.cpu", "must be > 0 (cores, e.g. 1 or 0.5)")
        if not _MEMORY.match(self.memory):
            raise ConfigError(f"{key}.memory", f"{self.memory!r} is not a memory size such as 2048m or 2g")


@dataclass(frozen=True)
class JobParallelism:
    """Each job's parallelism on Kubernetes (the operator starts ceil(parallelism / slots) TaskManagers)."""
    profile: int = 1
    scoring: int = 1
    feedback: int = 1


@dataclass(frozen=True)
class Deploy:
    image: str = "adstream-flink:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    namespace: str = "adstream"
    service_account: str = "flink"
    config_env: str = "k8s"
    secret: str = "adstream-services"
    storage_secret: str = ""
    checkpoint_dir: str = "s3://adstream-flink/checkpoints"
    savepoint_dir: str = "s3://adstream-flink/savepoints"
    ha_dir: str = "s3://adstream-flink/ha"
    shared_claim: str = ""
    shared_mount: str = "/var/adstream"
    task_slots: int = 1
    job_manager: Resources = Resources(cpu=1.0, memory="1600m")
    task_manager: Resources = Resources(cpu=1.0, memory="2048m")
    parallelism: JobParallelism = field(default_factory=JobParallelism)

    def __post_init__(self) -> None:
        if ":" not in self.image.rsplit("/", 1)[-1]:
            raise ConfigError("deploy.image", f"{self.image!r} has no tag: give NAME:TAG, e.g. registry/adstream-flink:0.1.0")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise ConfigError("deploy.image_pull_policy", "must be Always, IfNotPresent or Never")
        for name in ("namespace", "service_account", "config_env"):
            if not _DNS_LABEL.match(getattr(self, name)):
                raise ConfigError(f"deploy.{name}", "must be lowercase letters, digits and '-' (a DNS-1123 label)")
        for name in ("secret", "storage_secret", "shared_claim"):
            value = getattr(self, name)
            if (value or name == "secret") and not _DNS_SUBDOMAIN.match(value):
                raise ConfigError(f"deploy.{name}", "must be a Kubernetes object name (lowercase, digits, '-', '.')")
        for name in ("checkpoint_dir", "savepoint_dir", "ha_dir"):
            if not _URI.match(getattr(self, name)):
                raise ConfigError(f"deploy.{name}", "must be a URI that every pod can reach, e.g. s3://bucket/path")
        if not self.shared_mount.startswith("/"):
            raise ConfigError("deploy.shared_mount", "must be an absolute path inside the pods")
        if self.task_slots < 1:
            raise ConfigError("deploy.task_slots", "must be >= 1")
        self.job_manager.check("deploy.job_manager")
        self.task_manager.check("deploy.task_manager")
        for job in ("profile", "scoring", "feedback"):
            if getattr(self.parallelism, job) < 1:
                raise ConfigError(f"deploy.parallelism.{job}", "must be >= 1")
