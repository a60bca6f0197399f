"""Kubernetes: the image and the Flink Kubernetes Operator's ``FlinkDeployment`` per job, rendered
from the config (``render``), and the check of a manifest against the operator's CRD schema
(``crd``). Run through ``adstream flink k8s render`` (scripts/cli/k8s.py); docs/deploy.md."""
