"""Offline schema validation of rendered cluster manifests.

Kubernetes objects are checked against the OpenAPI-derived JSON schemas that
the `kubernetes-validate` package ships (no cluster, no network). Seldon Core v2
objects are custom resources those schemas do not know; they are checked with
`jsonschema` against SELDON_MODEL_SCHEMA below.
"""

from __future__ import annotations

from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional

DEFAULT_K8S_VERSION = "1.31"

_REPLICAS = {"type": "integer", "format": "int32", "minimum": 0}

# The spec of the Seldon Core v2 `Model` custom resource (mlops.seldon.io/v1alpha1), written from
# the CRD's openAPIV3Schema in SeldonIO/seldon-core,
# operator/config/crd/bases/mlops.seldon.io_models.yaml (controller-gen v0.18.0). Unlike the
# API server (which prunes unknown fields silently) we refuse unknown spec fields, so a typo fails here.
SELDON_MODEL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "mlops.seldon.io/v1alpha1"},
        "kind": {"const": "Model"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["storageUri"],
            "additionalProperties": False,
            "properties": {
                "storageUri": {"type": "string", "minLength": 1},
                "artifactVersion": {"type": "integer", "format": "int32"},
                "schemaUri": {"type": "string"},
                "secretName": {"type": "string"},
                "requirements": {"type": "array", "items": {"type": "string"}},
                "memory": {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
                },
                "replicas": _REPLICAS,
                "minReplicas": _REPLICAS,
                "maxReplicas": _REPLICAS,
                "server": {"type": "string"},
                "preloaded": {"type": "boolean"},
                "dedicated": {"type": "boolean"},
                "modelType": {"type": "string"},
                "parameters": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "value"],
                              "properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
                },
                "logger": {"type": "object", "properties": {"percent": {"type": "integer"}}},
                "explainer": {"type": "object", "properties": {
                    "type": {"type": "string"}, "modelRef": {"type": "string"}, "pipelineRef": {"type": "string"}}},
                "llm": {"type": "object", "properties": {"modelRef": {"type": "string"}, "pipelineRef": {"type": "string"}}},
                "dataflow": {"type": "object", "properties": {"cleanTopicsOnDelete": {"type": "boolean"}}},
            },
        },
    },
}


def validate_document(doc: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Problems found in one manifest (empty when it is valid)."""
    kind = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if str(doc.get("apiVersion", "")).startswith("mlops.seldon.io/"):
        jsonschema = import_optional("jsonschema", "serving")
        validator = jsonschema.Draft202012Validator(SELDON_MODEL_SCHEMA)
        return [f"{kind}: {'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in validator.iter_errors(doc)]
    kv = import_optional("kubernetes_validate", "serving")
    try:
        kv.validate(doc, k8s_version, strict=True)
    except kv.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{kind}: {path}: {exc.message}"]
    except kv.SchemaNotFoundError as exc:
        raise ToolError("invalid_input", f"No schema for {kind} in Kubernetes {k8s_version}: {exc}",
                        "Use a Kubernetes version kubernetes-validate knows, e.g. 1.31.") from exc
    return []


def validate_yaml(text: str, k8s_version: str = DEFAULT_K8S_VERSION) -> tuple[list[str], list[str]]:
    """(kinds, problems) for every document in a multi-document YAML text."""
    import yaml

    kinds, problems = [], []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        kinds.append(str(doc.get("kind")))
        problems += validate_document(doc, k8s_version)
    return kinds, problems
