"""The image and the manifests for the Flink Kubernetes Operator, rendered from the config.

``render(cfg, out, jobs, image)`` writes a ``Dockerfile`` (the official Flink image of the
pinned version, Python 3.11, the pinned packages, the Kafka connector and ``flink-python`` in
Flink's ``lib/``, the project's code at ``/opt/adstream``) and one ``FlinkDeployment`` per job
(application mode: the operator starts a JobManager that runs ``PythonDriver -pym jobs.<job>``).

What the pods need to know reaches the job through its environment, not its arguments: the
manifest sets ``ADSTREAM_ENV`` (``deploy.config_env``), so the job loads conf/k8s.yaml, which
takes the broker and Redis from variables the pod template fills from a Kubernetes Secret
(``secretKeyRef``), and the checkpoint directory, parallelism and shared mount from plain
variables set here. No address, credential or secret value is ever written into a manifest.
The Flink settings a job sets itself (state backend, checkpoint directory, restart strategy)
come from the same values, so the cluster's and the job's configuration agree.
"""
from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import yaml

from jobs import feedback, profile, scoring
from jobs.common import restart_settings
from udfs import config
from udfs.config import ROOT, Config
from udfs.errors import ConfigError

IMAGE_ROOT = "/opt/adstream"           # the project's code inside the image (udfs ROOT there)
PYTHON = f"{IMAGE_ROOT}/venv/bin/python"
FLINK_HOME = "/opt/flink"              # the official image's Flink
JOB_NAMES = {"profile": profile.JOB, "scoring": scoring.JOB, "feedback": feedback.JOB}
CODE = ("conf", "udfs", "jobs", "features")                      # what the jobs import or read
PACKAGING = ("setup.cfg", "pyproject.toml", "constraints.txt", "README.md")   # pip install -e needs these
EXTRAS = "flink,feast,model"           # setup.cfg extras the jobs import (PyFlink, Feast, onnxruntime)
# The Secret's keys; conf/k8s.yaml reads each as ${KEY}. Credentials would join them (not built).
SECRET_KEYS = ("ADSTREAM_KAFKA_HOST", "ADSTREAM_KAFKA_PORT", "ADSTREAM_REDIS_HOST", "ADSTREAM_REDIS_PORT")
# Flink's built-in filesystem plugins (in the image's opt/), by the storage URIs' scheme.
PLUGINS = {"s3": "flink-s3-fs-presto", "gs": "flink-gs-fs-hadoop", "abfs": "flink-azure-fs-hadoop",
           "abfss": "flink-azure-fs-hadoop", "wasb": "flink-azure-fs-hadoop",
           "wasbs": "flink-azure-fs-hadoop", "oss": "flink-oss-fs-hadoop"}
MAIN_CONTAINER = "flink-main-container"   # the operator merges its JobManager/TaskManager spec into this one


def flink_version(root: Path = ROOT) -> str:
    """The pinned Flink version: ``apache-flink==X`` in constraints.txt (the wheel the jobs run on)."""
    m = re.search(r"^apache-flink==(\S+)\s*$", (root / "constraints.txt").read_text(), re.M)
    if not m:
        raise ConfigError("constraints.txt", "no apache-flink==VERSION pin: the image's Flink must match it")
    return m.group(1)


def operator_flink_version(version: str) -> str:
    """The CRD's name for a Flink version: 2.2.1 → ``v2_2``."""
    major, minor = version.split(".")[:2]
    return f"v{major}_{minor}"


def plugins(cfg: Config) -> list[str]:
    """The filesystem plugins the storage URIs need (``file://`` needs none)."""
    d = cfg.deploy
    needed = set()
    for key in ("checkpoint_dir", "savepoint_dir", "ha_dir"):
        scheme = getattr(d, key).split("://", 1)[0]
        if scheme == "file":
            continue
        if scheme not in PLUGINS:
            raise ConfigError(f"deploy.{key}", f"no built-in Flink filesystem plugin for {scheme}://; "
                                               f"use one of {', '.join(sorted(PLUGINS))} or file://")
        needed.add(PLUGINS[scheme])
    return sorted(needed)


def connector_source(cfg: Config) -> str:
    """The connector jar as a path inside the build context (the repository)."""
    jar = Path(cfg.jars.flink_connector)
    try:
        # not resolved: .jars/ may be a link (a worktree's), and the build context sees the link's name
        return jar.relative_to(ROOT).as_posix()
    except ValueError:
        raise ConfigError("jars.flink_connector", f"{jar} is outside the repository, so `docker build` "
                                                  "from the repository cannot copy it; put it under .jars/") from None


def copied(cfg: Config) -> list[str]:
    """Every repository path the Dockerfile copies (all must exist when the image is built)."""
    return [*PACKAGING, *CODE, connector_source(cfg)]


def requirements(root: Path = ROOT) -> list[str]:
    """What ``pip install -e ".[EXTRAS]"`` would install: setup.cfg's ranges (constraints.txt pins them)."""
    setup = configparser.ConfigParser()
    setup.read(root / "setup.cfg")
    sections = [setup["options"]["install_requires"], *(setup["options.extras_require"][e] for e in EXTRAS.split(","))]
    return [line.strip() for text in sections for line in text.splitlines() if line.strip()]


def dockerfile(cfg: Config, version: str, image: str) -> str:
    jar, lib = connector_source(cfg), f"{FLINK_HOME}/lib"
    packaging = "".join(f"COPY {p} {IMAGE_ROOT}/{p}\n" for p in PACKAGING)
    reqs = " \\\n    ".join(f'"{r}"' for r in requirements())
    plugin_lines = "".join(
        f"RUN mkdir -p {FLINK_HOME}/plugins/{p} && cp {FLINK_HOME}/opt/{p}-{version}.jar {FLINK_HOME}/plugins/{p}/\n"
        for p in plugins(cfg))
    code = "".join(f"COPY {c} {IMAGE_ROOT}/{c}\n" for c in CODE)
    return f"""\
# Rendered by `adstream flink k8s render` (scripts/k8s/render.py) from conf/; edit the config, not this file.
# Build from the repository root, which is the build context:
#   docker build -f {{this file}} -t {image} .
FROM flink:{version}-java17

USER root
# Python 3.11, the project's version (setup.cfg): the image's Ubuntu 24.04 ships 3.12, so deadsnakes.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \\
 && add-apt-repository -y ppa:deadsnakes/ppa \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \\
 && apt-get purge -y software-properties-common gpg-agent && apt-get autoremove -y \\
 && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv {IMAGE_ROOT}/venv
ENV PATH={IMAGE_ROOT}/venv/bin:$PATH

# The packages first, with the same pins as a developer's .venv (a code change keeps this layer);
# then the project at a fixed path, installed editable so udfs' ROOT is {IMAGE_ROOT} (conf/ is there).
WORKDIR {IMAGE_ROOT}
{packaging}\
RUN pip install --no-cache-dir -c constraints.txt {reqs}
{code}\
RUN pip install --no-cache-dir --no-deps -e .
# Thread mode's embedded Python (in the TaskManager's JVM) and the driver find the code here.
ENV PYTHONPATH={IMAGE_ROOT}

# The Kafka connector, and flink-python in lib/: a second thread-mode job on one TaskManager
# otherwise fails loading pemja's native library (issue #16).
COPY {jar} {lib}/{Path(jar).name}
RUN cp {FLINK_HOME}/opt/flink-python-{version}.jar {lib}/
# Filesystem plugins for the checkpoint, savepoint and HA URIs (deploy.*_dir).
{plugin_lines}\
RUN chown -R flink:flink {FLINK_HOME}/lib {FLINK_HOME}/plugins
USER flink
"""


def pod_config(cfg: Config, job: str) -> Config:
    """The config the job itself loads in its pods: conf/base.yaml + the ``config_env`` overlay
    with the pods' environment (the Secret's keys by stand-ins that never reach a file). The
    settings the job sets itself are taken from it, not from this command's --env/--set, which
    the pods never see; a broken overlay fails here, before anything is deployed."""
    stand_in = {k: "0" if k.endswith("_PORT") else "from-the-secret" for k in SECRET_KEYS}
    env = {e["name"]: e.get("value", stand_in.get(e["name"], "")) for e in environment(cfg, job)}
    return config.load(cfg.deploy.config_env, environ=env)


def flink_configuration(cfg: Config, job: str) -> dict[str, str]:
    """The cluster's settings; those the job also sets itself carry the values the job will use."""
    d, name, pods = cfg.deploy, JOB_NAMES[job], pod_config(cfg, job)
    return {
        "taskmanager.numberOfTaskSlots": str(d.task_slots),
        "state.backend.type": "rocksdb",
        "execution.checkpointing.incremental": "true",
        "execution.checkpointing.interval": f"{pods.flink.checkpoint_interval_ms} ms",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.dir": f"{d.checkpoint_dir.rstrip('/')}/{name}",
        "execution.checkpointing.savepoint-dir": f"{d.savepoint_dir.rstrip('/')}/{name}",
        # The same under the 1.x names: the operator (1.15.0) is built on Flink 1.20's option classes
        # and refuses upgradeMode savepoint unless it finds both directories; Flink 2.2 still reads
        # these as deprecated fallbacks, with the same values.
        "state.checkpoints.dir": f"{d.checkpoint_dir.rstrip('/')}/{name}",
        "state.savepoints.dir": f"{d.savepoint_dir.rstrip('/')}/{name}",
        "state.backend.incremental": "true",
        "high-availability.type": "kubernetes",
        "high-availability.storageDir": f"{d.ha_dir.rstrip('/')}/{name}",
        **restart_settings(pods),
        "python.executable": PYTHON,
        "python.client.executable": PYTHON,
        "python.pythonpath": IMAGE_ROOT,
        "python.execution-mode": pods.flink.python_execution_mode,
    }


def environment(cfg: Config, job: str) -> list[dict]:
    """The pods' env: plain settings by value, the Secret's keys by reference (never their values)."""
    d = cfg.deploy
    plain = {"ADSTREAM_ENV": d.config_env, "ADSTREAM_CHECKPOINT_DIR": d.checkpoint_dir,
             "ADSTREAM_PARALLELISM": str(getattr(d.parallelism, job)), "ADSTREAM_SHARED_DIR": d.shared_mount}
    return ([{"name": k, "value": v} for k, v in plain.items()]
            + [{"name": k, "valueFrom": {"secretKeyRef": {"name": d.secret, "key": k}}} for k in SECRET_KEYS])


def pod_template(cfg: Config, job: str) -> dict:
    d = cfg.deploy
    container: dict = {"name": MAIN_CONTAINER, "env": environment(cfg, job)}
    spec: dict = {"containers": [container]}
    if d.storage_secret:
        container["envFrom"] = [{"secretRef": {"name": d.storage_secret}}]
    if d.shared_claim:
        container["volumeMounts"] = [{"name": "adstream-shared", "mountPath": d.shared_mount}]
        spec["volumes"] = [{"name": "adstream-shared", "persistentVolumeClaim": {"claimName": d.shared_claim}}]
    return {"spec": spec}


def deployment(cfg: Config, job: str, image: str, version: str) -> dict:
    """One job's ``FlinkDeployment`` (flink.apache.org/v1beta1, application mode)."""
    d = cfg.deploy
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": JOB_NAMES[job], "namespace": d.namespace,
                     "labels": {"app.kubernetes.io/name": "adstream", "app.kubernetes.io/component": job}},
        "spec": {
            "image": image,
            "imagePullPolicy": d.image_pull_policy,
            "flinkVersion": operator_flink_version(version),
            "serviceAccount": d.service_account,
            "flinkConfiguration": flink_configuration(cfg, job),
            "podTemplate": pod_template(cfg, job),
            "jobManager": {"replicas": 1, "resource": {"cpu": d.job_manager.cpu, "memory": d.job_manager.memory}},
            "taskManager": {"resource": {"cpu": d.task_manager.cpu, "memory": d.task_manager.memory}},
            "job": {
                "jarURI": f"local://{FLINK_HOME}/opt/flink-python-{version}.jar",
                "entryClass": "org.apache.flink.client.python.PythonDriver",
                # jobs/<job>.py's __main__ (jobs/submit.py job_main): its own subcommand; the config
                # comes from ADSTREAM_ENV (conf/k8s.yaml) in the pod's environment
                "args": ["-pym", f"jobs.{job}", job],
                "parallelism": getattr(d.parallelism, job),
                "upgradeMode": "savepoint",
                "state": "running",
            },
        },
    }


def manifest_text(cfg: Config, doc: dict) -> str:
    head = ("# Rendered by `adstream flink k8s render` from conf/ (deploy section); edit the config, not this file.\n"
            f"# Needs the Secret {cfg.deploy.secret!r} in namespace {cfg.deploy.namespace!r} first (docs/deploy.md).\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def render(cfg: Config, out: Path, jobs: list[str], image: str | None = None) -> list[Path]:
    """Write the Dockerfile and each job's manifest into ``out``; returns the files written."""
    version = flink_version()
    image = image or cfg.deploy.image
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "Dockerfile"]
    written[0].write_text(dockerfile(cfg, version, image))
    for job in jobs:
        path = out / f"flinkdeployment-{job}.yaml"
        path.write_text(manifest_text(cfg, deployment(cfg, job, image, version)))
        written.append(path)
    return written


def relative(path: Path) -> str:
    """``path`` as the user would type it from here: relative below the working folder, else absolute."""
    rel = os.path.relpath(path.absolute())
    return str(path.absolute()) if rel.startswith("..") else rel
