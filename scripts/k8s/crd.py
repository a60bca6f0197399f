"""A manifest checked against a CustomResourceDefinition's ``openAPIV3Schema``, as the API server would.

A CRD's schema is OpenAPI v3 with Kubernetes extensions, not JSON Schema; ``json_schema``
translates it so ``jsonschema`` can judge a manifest:

- an object with ``properties`` and no ``additionalProperties`` is closed: ``kubectl apply``
  (client 1.27 and later, server-side field validation ``Strict``) refuses an unknown field,
  so a misspelt ``upgradeMod`` must fail here too rather than be silently pruned;
- ``x-kubernetes-preserve-unknown-fields: true`` keeps it open (``flinkConfiguration``);
- ``x-kubernetes-int-or-string: true`` is integer or string (its ``anyOf`` says so; added
  when a schema leaves it out);
- ``nullable: true`` also allows null (OpenAPI 3.0's way; JSON Schema has a ``null`` type);
- ``x-kubernetes-embedded-resource`` allows ``apiVersion``, ``kind`` and ``metadata``;
- the other ``x-kubernetes-*`` keys (list types, map keys, validations in CEL) are not checked.

The root takes ``apiVersion``, ``kind`` and ``metadata`` as the API server does for every
object; ``metadata`` is held to the fields a rendered manifest uses, with a name Flink's native
Kubernetes accepts as a cluster id (a DNS-1035 label of at most 45 characters).
"""
from __future__ import annotations

from typing import Any

import jsonschema

_NAME = {"type": "string", "maxLength": 45, "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$"}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": _NAME, "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                           "labels": _STRINGS, "annotations": _STRINGS}}
_EMBEDDED = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def json_schema(node: Any) -> Any:
    """One OpenAPI v3 schema node (and everything below it) as JSON Schema."""
    if not isinstance(node, dict):
        return node
    out: dict = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [json_schema(sub) for sub in value]
        elif not (key.startswith("x-kubernetes-") or key == "nullable"):
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("x-kubernetes-embedded-resource"):
        out["properties"] = {**_EMBEDDED, **out.get("properties", {})}
    if node.get("nullable"):
        _allow_null(out)
    if ("properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _allow_null(out: dict) -> None:
    if "type" in out:
        out["type"] = [*(out["type"] if isinstance(out["type"], list) else [out["type"]]), "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    if "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]


def version_schema(crd: dict, version: str) -> dict:
    """The JSON Schema of one served version of the CRD, for a whole object of that kind."""
    spec = crd["spec"]
    found = [v for v in spec["versions"] if v["name"] == version and v.get("served", True)]
    if not found:
        served = [v["name"] for v in spec["versions"] if v.get("served", True)]
        raise ValueError(f"{spec['names']['kind']} has no served version {version!r} (served: {served})")
    root = json_schema(found[0]["schema"]["openAPIV3Schema"])
    group, kind = spec["group"], spec["names"]["kind"]
    root["properties"] = {"apiVersion": {"const": f"{group}/{version}"}, "kind": {"const": kind},
                          "metadata": METADATA, **root.get("properties", {})}
    root["required"] = sorted({"apiVersion", "kind", "metadata", *root.get("required", [])})
    root.setdefault("additionalProperties", False)
    return root


def errors(manifest: dict, crd: dict) -> list[str]:
    """What is wrong with ``manifest`` under ``crd`` ([] = valid), each as ``path: reason``."""
    version = str(manifest.get("apiVersion", "")).rsplit("/", 1)[-1]
    try:
        schema = version_schema(crd, version)
    except ValueError as e:
        return [f"apiVersion: {e}"]
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))]
