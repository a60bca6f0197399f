"""``adstream flink k8s render``: the Dockerfile and the Flink Kubernetes Operator manifests, from the config.

Thin: the rendering is scripts/k8s/render.py. ``add_render_parser(subparsers)`` builds the
``render`` parser alone, so another command group (``adstream flink k8s``) can carry it too.
With ``--crd FILE`` each manifest is also checked against the operator's CRD schema
(scripts/k8s/crd.py; the vendored one is tests/k8s/flinkdeployments.flink.apache.org-v1.yml).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import yaml

from udfs.config import Config
from udfs.errors import AdstreamError

JOBS = ("profile", "scoring", "feedback")

_EPILOG = """\
examples:
  adstream flink k8s render --out build/k8s
  adstream flink k8s render --out build/k8s --job scoring --image registry.example/adstream-flink:0.2.0
  adstream flink k8s render --out build/k8s --crd tests/k8s/flinkdeployments.flink.apache.org-v1.yml
Settings: the deploy: section of conf/base.yaml (image, namespace, service account, Secret,
storage URIs, resources, parallelism per job); inside the pods the jobs load conf/k8s.yaml.
Walk-through: docs/deploy.md."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("k8s", help="Kubernetes: render the image's Dockerfile and FlinkDeployment manifests",
                       description="Run the jobs on Kubernetes with the Flink Kubernetes Operator (docs/deploy.md).")
    add_render_parser(p.add_subparsers(dest="k8s_cmd", metavar="ACTION", required=True))


def add_render_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r = sub.add_parser(
        "render", help="write a Dockerfile and one FlinkDeployment per job into --out",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Writes DIR/Dockerfile (the official Flink image of the pinned version, Python 3.11,\n"
                    "the pinned packages, the Kafka connector and flink-python in lib/, the project's code\n"
                    "at /opt/adstream) and DIR/flinkdeployment-<job>.yaml for the Flink Kubernetes\n"
                    "Operator (RocksDB, incremental checkpoints, checkpoints, savepoints and HA on the\n"
                    "deploy.*_dir URIs, upgradeMode savepoint). Kafka and Redis addresses are not in the\n"
                    "files: the pods read them from the Secret named by deploy.secret.")
    r.add_argument("--out", metavar="DIR", required=True, type=Path, help="folder to write into (created)")
    r.add_argument("--job", choices=(*JOBS, "all"), default="all", help="which job's manifest (default: all)")
    r.add_argument("--image", metavar="NAME:TAG", help="the image the pods run (default: deploy.image)")
    r.add_argument("--crd", metavar="FILE", type=Path,
                   help="also check every manifest against this FlinkDeployment CRD; exit 1 if one fails")
    r.set_defaults(func=_render)
    return r


def _render(cfg: Config, a) -> int:
    from scripts.k8s import render
    if a.image:   # the section's own rules (a tag is required) hold for the override too
        cfg = dataclasses.replace(cfg, deploy=dataclasses.replace(cfg.deploy, image=a.image))
    jobs = list(JOBS) if a.job == "all" else [a.job]
    written = render.render(cfg, a.out, jobs)
    for path in written:
        print(f"wrote {render.relative(path)}")
    if a.crd and not _check(written[1:], a.crd):
        return 1
    out = render.relative(a.out)
    print(f"next: docker build -f {out}/Dockerfile -t {cfg.deploy.image} . && docker push {cfg.deploy.image}\n"
          f"      kubectl create secret generic {cfg.deploy.secret} --namespace={cfg.deploy.namespace} "
          f"--from-literal=ADSTREAM_KAFKA_HOST=… (docs/deploy.md)\n"
          f"      kubectl apply -f {out}/flinkdeployment-<job>.yaml --namespace={cfg.deploy.namespace}")
    return 0


def _check(manifests: list[Path], crd_file: Path) -> bool:
    from scripts.k8s import crd
    if not crd_file.exists():
        raise AdstreamError(f"--crd {crd_file}: no such file")
    definition = yaml.safe_load(crd_file.read_text())
    ok = True
    for path in manifests:
        problems = crd.errors(yaml.safe_load(path.read_text()), definition)
        print(f"{path.name}: " + ("valid against the CRD" if not problems else f"{len(problems)} problem(s)"))
        for p in problems:
            print(f"  {p}")
        ok = ok and not problems
    return ok
