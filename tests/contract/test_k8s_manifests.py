"""What `adstream flink k8s render` writes holds to the Flink Kubernetes Operator's published CRD
(vendored: tests/k8s/flinkdeployments.flink.apache.org-v1.yml, operator 1.15.0), to the pinned
Flink, to the repository (what the Dockerfile copies exists) and to the rule that no address or
secret is written into a manifest; and the jobs' own settings in the pods (conf/k8s.yaml) agree
with the manifests'. No Kubernetes here: this is the schema check `kubectl apply` would make."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from jobs.common import flink_settings
from scripts.cli import main
from scripts.k8s import crd, render
from udfs import config

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "tests/k8s/flinkdeployments.flink.apache.org-v1.yml").read_text())
JOBS = ("profile", "scoring", "feedback")
# Distinctive addresses: if one of them reached a manifest, the search below finds it.
ADDRESSES = ["kafka.host=kafka-7f3a.internal", "kafka.port=39092", "redis.host=redis-91c2.internal",
             "redis.port=36379", "deploy.shared_claim=adstream-data", "deploy.storage_secret=adstream-s3"]


@pytest.fixture(scope="module")
def cfg():
    return config.load("test", overrides=ADDRESSES, environ={})


@pytest.fixture(scope="module")
def rendered(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("k8s")
    render.render(cfg, out, list(JOBS))
    return out


def _manifest(rendered: Path, job: str) -> dict:
    return yaml.safe_load((rendered / f"flinkdeployment-{job}.yaml").read_text())


@pytest.mark.parametrize("job", JOBS)
def test_every_rendered_manifest_is_valid_against_the_operators_crd(rendered, job):
    doc = _manifest(rendered, job)
    assert crd.errors(doc, CRD) == []
    assert doc["spec"]["flinkVersion"] == "v2_2" and doc["spec"]["job"]["upgradeMode"] == "savepoint"
    conf = doc["spec"]["flinkConfiguration"]
    # The operator's own check (DefaultValidator, 1.15.0) before it accepts upgradeMode savepoint,
    # under the key names of the Flink 1.20 classes it is built on and of Flink 2.2.
    for keys in (("state.checkpoints.dir", "execution.checkpointing.dir"),
                 ("state.savepoints.dir", "execution.checkpointing.savepoint-dir")):
        assert len({conf[k] for k in keys}) == 1 and conf[keys[0]].startswith("s3://")
    assert doc["spec"]["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{render.flink_version()}.jar"


@pytest.mark.parametrize("change, where", [
    (lambda s: s["job"].update(parallelism="2"), "spec.job.parallelism"),
    (lambda s: s["job"].update(upgradeMode="latest"), "spec.job.upgradeMode"),
    (lambda s: s["job"].update(upgradeMod="savepoint"), "spec.job"),
    (lambda s: s.update(flinkVersion="v1_99"), "spec.flinkVersion"),
    (lambda s: s["taskManager"]["resource"].update(cpu="one"), "spec.taskManager.resource.cpu"),
    (lambda s: s["podTemplate"]["spec"]["containers"][0]["env"].append({"name": 1}), "spec.podTemplate"),
])
def test_a_broken_manifest_fails_validation(rendered, change, where):
    doc = copy.deepcopy(_manifest(rendered, "profile"))
    change(doc["spec"])
    problems = crd.errors(doc, CRD)
    assert problems and all(p.startswith(where) for p in problems), problems


def test_the_vendored_crd_supports_the_pinned_flink():
    schema = crd.version_schema(CRD, "v1beta1")
    allowed = schema["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    assert render.operator_flink_version(render.flink_version()) in allowed
    import pyflink.version
    assert pyflink.version.__version__ == render.flink_version()   # the image's Flink = the wheel's


def test_the_dockerfile_names_the_pinned_flink_and_copies_files_that_exist(rendered, cfg):
    text = (rendered / "Dockerfile").read_text()
    version = render.flink_version()
    assert re.search(rf"^FROM flink:{re.escape(version)}-java17$", text, re.M)
    assert f"cp /opt/flink/opt/flink-python-{version}.jar /opt/flink/lib/" in text
    sources = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ")]
    assert sources == render.copied(cfg)
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"the Dockerfile copies what the repository lacks: {missing} (run `make setup` for .jars/)"
    connector = Path(cfg.jars.flink_connector).name
    assert f"/opt/flink/lib/{connector}" in text
    assert "pip install --no-cache-dir -c constraints.txt" in text and "pip install --no-cache-dir --no-deps -e ." in text


def test_every_package_the_image_installs_is_pinned_in_constraints():
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()
    pins = {norm(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    wanted = {norm(re.split(r"[<>=\[ ]", r, maxsplit=1)[0]) for r in render.requirements()}
    assert {"apache-flink", "feast", "onnxruntime", "msgspec"} <= wanted
    assert wanted <= pins, f"not pinned in constraints.txt: {sorted(wanted - pins)}"


def test_no_address_or_secret_value_is_in_a_manifest(rendered, cfg):
    for job in JOBS:
        text = (rendered / f"flinkdeployment-{job}.yaml").read_text()
        for value in ("kafka-7f3a.internal", "39092", "redis-91c2.internal", "36379", "127.0.0.1", "localhost"):
            assert value not in text, (job, value)
        env = _manifest(rendered, job)["spec"]["podTemplate"]["spec"]["containers"][0]["env"]
        by_ref = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
        assert by_ref == {k: {"name": cfg.deploy.secret, "key": k} for k in render.SECRET_KEYS}


def test_the_pods_config_takes_every_variable_from_the_manifests_env(rendered, cfg):
    """Each ${VAR} without a default in conf/k8s.yaml is set by the pod template, and with them
    the overlay loads; the job's own Flink settings then equal the manifest's."""
    overlay = yaml.safe_load((ROOT / "conf" / f"{cfg.deploy.config_env}.yaml").read_text())
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(overlay)))   # the values, not the comments
    assert {"ADSTREAM_KAFKA_HOST", "ADSTREAM_REDIS_HOST", "ADSTREAM_CHECKPOINT_DIR"} <= required
    for job in JOBS:
        doc = _manifest(rendered, job)
        env = doc["spec"]["podTemplate"]["spec"]["containers"][0]["env"]
        assert required <= {e["name"] for e in env}
        pod_env = {e["name"]: e.get("value", f"from-secret-{e['name'].lower()}") for e in env}
        pod_env.update(ADSTREAM_KAFKA_PORT="9092", ADSTREAM_REDIS_PORT="6379")   # as the Secret would hold
        assert pod_env["ADSTREAM_ENV"] == cfg.deploy.config_env
        # the connector sits in the image's lib/; here the repository's copy stands in for it
        pods = config.load(pod_env["ADSTREAM_ENV"], environ=pod_env,
                           overrides=[f"jars.flink_connector={cfg.jars.flink_connector}"])
        assert Path(pods.jars.flink_connector).name == Path(cfg.jars.flink_connector).name
        job_side = flink_settings(pods, render.JOB_NAMES[job])
        cluster = doc["spec"]["flinkConfiguration"]
        shared = sorted(set(job_side) & set(cluster) - {"python.executable", "python.client.executable"})
        assert {k: job_side[k] for k in shared} == {k: cluster[k] for k in shared}
        assert "state.backend.type" in shared and "execution.checkpointing.dir" in shared
        assert job_side["parallelism.default"] == str(doc["spec"]["job"]["parallelism"])


def test_shared_volume_and_storage_secret_reach_the_pod_template(rendered, cfg):
    pod = _manifest(rendered, "scoring")["spec"]["podTemplate"]["spec"]
    assert pod["volumes"] == [{"name": "adstream-shared", "persistentVolumeClaim": {"claimName": "adstream-data"}}]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == cfg.deploy.shared_mount
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "adstream-s3"}}]


def test_the_command_renders_and_checks_against_the_crd(tmp_path, capsys):
    crd_file = ROOT / "tests/k8s/flinkdeployments.flink.apache.org-v1.yml"
    rc = main(["--env", "test", "flink", "k8s", "render", "--out", str(tmp_path), "--job", "scoring",
               "--image", "registry.example/adstream-flink:9.9", "--crd", str(crd_file)])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "flinkdeployment-scoring.yaml"]
    assert "flinkdeployment-scoring.yaml: valid against the CRD" in capsys.readouterr().out
    assert _manifest(tmp_path, "scoring")["spec"]["image"] == "registry.example/adstream-flink:9.9"
    assert main(["--env", "test", "flink", "k8s", "render", "--out", str(tmp_path), "--image", "untagged"]) == 2


def test_the_command_exits_1_naming_the_field_when_the_crd_refuses_a_manifest(tmp_path, capsys):
    """An operator whose CRD does not know Flink 2.2 (as 1.12 did not): the check must say so."""
    old = copy.deepcopy(CRD)
    spec = old["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["flinkVersion"]["enum"] = ["v1_20", "v2_0"]
    crd_file = tmp_path / "old-crd.yml"
    crd_file.write_text(yaml.safe_dump(old))
    rc = main(["--env", "test", "flink", "k8s", "render", "--out", str(tmp_path / "out"), "--job", "feedback",
               "--crd", str(crd_file)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "flinkdeployment-feedback.yaml: 1 problem(s)" in out and "spec.flinkVersion: 'v2_2' is not one of" in out
