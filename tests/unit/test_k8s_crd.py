"""The CRD → JSON Schema translation (scripts/k8s/crd.py) on small schemas: each Kubernetes
extension it handles, and that an object with properties refuses an unknown field."""
import pytest

from scripts.k8s import crd

pytestmark = pytest.mark.unit


def _crd(schema: dict) -> dict:
    return {"spec": {"group": "example.org", "names": {"kind": "Thing"},
                     "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": schema}}]}}


SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "replicas": {"type": "integer"},
    "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
    "bare": {"x-kubernetes-int-or-string": True},
    "note": {"type": "string", "nullable": True},
    "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
    "conf": {"x-kubernetes-preserve-unknown-fields": True},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "child": {"type": "object", "x-kubernetes-embedded-resource": True,
              "properties": {"size": {"type": "integer"}}},
}}}}
OK = {"apiVersion": "example.org/v1", "kind": "Thing", "metadata": {"name": "thing-one"}}


def _errors(spec: dict, **top) -> list[str]:
    return crd.errors({**OK, **top, "spec": spec}, _crd(SCHEMA))


def test_a_valid_object_has_no_errors():
    assert _errors({"replicas": 2, "port": "http", "bare": 8080, "note": None, "mode": None,
                    "conf": {"any": {"nested": [1, "x"]}}, "labels": {"a": "b"},
                    "child": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "size": 1}}) == []


def test_unknown_fields_are_refused_where_the_schema_lists_properties():
    assert _errors({"replica": 2}) == ["spec: Additional properties are not allowed ('replica' was unexpected)"]
    assert _errors({"child": {"sise": 1}})[0].startswith("spec.child: Additional properties")
    assert crd.errors({**OK, "extra": 1, "spec": {}}, _crd(SCHEMA))[0].startswith("<root>: Additional properties")


def test_types_enums_and_int_or_string_are_checked():
    assert _errors({"replicas": "2"}) == ["spec.replicas: '2' is not of type 'integer'"]
    assert _errors({"mode": "c"}) == ["spec.mode: 'c' is not one of ['a', 'b', None]"]
    assert len(_errors({"bare": 1.5})) == 1 and len(_errors({"port": True})) == 1
    assert len(_errors({"labels": {"a": 1}})) == 1
    assert _errors({"replicas": None}) == ["spec.replicas: None is not of type 'integer'"]   # not nullable


def test_apiversion_kind_and_metadata_are_checked_as_the_api_server_does():
    assert crd.errors({**OK, "apiVersion": "example.org/v2"}, _crd(SCHEMA))[0].startswith(
        "apiVersion: Thing has no served version 'v2'")
    assert crd.errors({**OK, "kind": "Other"}, _crd(SCHEMA)) == ["kind: 'Thing' was expected"]
    assert crd.errors({**OK, "metadata": {"name": "Bad_Name"}}, _crd(SCHEMA))[0].startswith("metadata.name:")
    assert crd.errors({**OK, "metadata": {"name": "x" * 46}}, _crd(SCHEMA))[0].startswith("metadata.name:")
    assert crd.errors({"apiVersion": "example.org/v1", "kind": "Thing"}, _crd(SCHEMA)) == [
        "<root>: 'metadata' is a required property"]


def test_the_translation_leaves_no_kubernetes_keys_behind():
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)
    left = {k for k in keys(crd.json_schema(SCHEMA)) if k.startswith("x-kubernetes-") or k == "nullable"}
    assert left == set()
